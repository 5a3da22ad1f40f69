/**
 * EDM (Karras et al. 2022): the time grid, the preconditioning and the denoiser D(x, sigma) around a network.
 * Formulas as in pid-method.md §1.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface EdmSchedule {
  sigma_data: number;
  sigma_min: number;
  sigma_max: number;
  rho: number;
}

/**
 * A denoiser D(x, sigma): x [B, ...dataShape], sigma [B] (one noise level per sample), and for class-conditional
 * models the class labels [B, label_dim] (one-hot, EDM's class_labels).
 */
export interface Denoiser {
  denoise(x: tf.Tensor, sigma: tf.Tensor1D, labels?: tf.Tensor2D): tf.Tensor;
}

/** A network F(x_in, c_noise[, labels]) with the data's shape in and out: x_in [B, ...dataShape], cNoise [B]. */
export type NetworkFn = (xIn: tf.Tensor, cNoise: tf.Tensor1D, labels?: tf.Tensor2D) => tf.Tensor;

/** Karras grid: n points from sigma_max down to sigma_min, t_i = (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho. */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho: number): number[] {
  if (!Number.isInteger(n) || n < 2) throw new Error(`karrasSigmas needs n >= 2 points (got ${n})`);
  const a = sigmaMax ** (1 / rho);
  const b = sigmaMin ** (1 / rho);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((a + (i / (n - 1)) * (b - a)) ** rho);
  out[0] = sigmaMax; // exact endpoints despite rounding
  out[n - 1] = sigmaMin;
  return out;
}

/** EDM preconditioning coefficients for one sigma (pid-method.md §1). */
export function edmPrecond(sigma: number, sigmaData: number) {
  const s2 = sigma * sigma + sigmaData * sigmaData;
  return {
    cSkip: (sigmaData * sigmaData) / s2,
    cOut: (sigma * sigmaData) / Math.sqrt(s2),
    cIn: 1 / Math.sqrt(s2),
    cNoise: Math.log(sigma) / 4,
  };
}

/** The same coefficients for a batch of sigmas, as [B] tensors. */
export function edmPrecondTensors(sigma: tf.Tensor1D, sigmaData: number) {
  return tf.tidy(() => {
    const sd2 = sigmaData * sigmaData;
    const s2 = tf.add(tf.square(sigma), sd2);
    const root = tf.sqrt(s2);
    return {
      cSkip: tf.div(sd2, s2) as tf.Tensor1D,
      cOut: tf.div(tf.mul(sigma, sigmaData), root) as tf.Tensor1D,
      cIn: tf.div(1, root) as tf.Tensor1D,
      cNoise: tf.div(tf.log(sigma), 4) as tf.Tensor1D,
    };
  });
}

/** Reshapes a per-sample [B] tensor so that it broadcasts against x of the given rank: [B, 1, ..., 1]. */
export function perSample(v: tf.Tensor1D, rank: number): tf.Tensor {
  return tf.reshape(v, [v.shape[0], ...new Array(rank - 1).fill(1)]);
}

/** D(x, s) = c_skip(s) x + c_out(s) F(c_in(s) x, c_noise(s)). */
export function edmDenoiser(network: NetworkFn, sigmaData: number): Denoiser {
  return {
    denoise(x, sigma) {
      return tf.tidy(() => {
        const { cSkip, cOut, cIn, cNoise } = edmPrecondTensors(sigma, sigmaData);
        const f = network(tf.mul(x, perSample(cIn, x.rank)), cNoise);
        return tf.add(tf.mul(x, perSample(cSkip, x.rank)), tf.mul(f, perSample(cOut, x.rank)));
      });
    },
  };
}

/** Calls a denoiser with one sigma for the whole batch. */
export function denoiseAt(denoiser: Denoiser, x: tf.Tensor, sigma: number): tf.Tensor {
  return tf.tidy(() => denoiser.denoise(x, tf.fill([x.shape[0]], sigma) as tf.Tensor1D));
}

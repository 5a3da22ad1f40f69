/**
 * EDM (Karras et al. 2022): the time grid, the preconditioning and the denoiser D(x, sigma) around a network.
 * Formulas as in pid-method.md §1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Precond, edmPreconditioning } from './precond';

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
  return edmPreconditioning(sigmaData).at(sigma);
}

/** Reshapes a per-sample [B] tensor so that it broadcasts against x of the given rank: [B, 1, ..., 1]. */
export function perSample(v: tf.Tensor1D, rank: number): tf.Tensor {
  return tf.reshape(v, [v.shape[0], ...new Array(rank - 1).fill(1)]);
}

/** D(x, s) = c_skip(s) x + c_out(s) F(c_in(s) x, c_noise(s)) with the given preconditioning (EDM's by default). */
export function preconditionedDenoiser(network: NetworkFn, precond: Precond): Denoiser {
  return {
    denoise(x, sigma, labels) {
      return tf.tidy(() => {
        const { cSkip, cOut, cIn, cNoise } = precond.tensors(sigma);
        const f = network(tf.mul(x, perSample(cIn, x.rank)), cNoise, labels);
        return tf.add(tf.mul(x, perSample(cSkip, x.rank)), tf.mul(f, perSample(cOut, x.rank)));
      });
    },
  };
}

export function edmDenoiser(network: NetworkFn, sigmaData: number): Denoiser {
  return preconditionedDenoiser(network, edmPreconditioning(sigmaData));
}

/** A class-conditional denoiser with its labels fixed ([B, label_dim], tiled when x holds k B rows). */
export function withLabels(denoiser: Denoiser, labels: tf.Tensor2D | undefined): Denoiser {
  if (!labels) return denoiser;
  return { denoise: (x, sigma) => tf.tidy(() => denoiser.denoise(x, sigma, tileRows(labels, x.shape[0]))) };
}

/** A network with its class labels fixed, tiled like `withLabels`. */
export function networkWithLabels(F: NetworkFn, labels: tf.Tensor2D | undefined): NetworkFn {
  if (!labels) return F;
  return (xIn, cNoise) => tf.tidy(() => F(xIn, cNoise, tileRows(labels, xIn.shape[0])));
}

function tileRows(labels: tf.Tensor2D, rows: number): tf.Tensor2D {
  const b = labels.shape[0];
  if (rows === b) return labels;
  if (rows % b !== 0) throw new Error(`class labels for ${b} samples cannot condition a batch of ${rows}`);
  return tf.tile(labels, [rows / b, 1]);
}

/** Calls a denoiser with one sigma for the whole batch. */
export function denoiseAt(denoiser: Denoiser, x: tf.Tensor, sigma: number): tf.Tensor {
  return tf.tidy(() => denoiser.denoise(x, tf.fill([x.shape[0]], sigma) as tf.Tensor1D));
}

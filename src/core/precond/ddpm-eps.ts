/**
 * A DDPM epsilon-prediction model (Ho et al. 2020; diffusers' DDPMScheduler) as an EDM denoiser (Karras et al. 2022,
 * Table 1, "VP" with discrete timesteps): sigma_t = sqrt((1 - abar_t) / abar_t), the network sees x_t = x / sqrt(1 + sigma^2)
 * and D(x, sigma) = x - sigma eps(x_t, t(sigma)): c_skip = 1, c_out = -sigma, c_in = 1 / sqrt(1 + sigma^2),
 * c_noise = t(sigma), interpolated linearly in ln sigma between the training timesteps (exact at each of them).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PrecondSpec } from '../../formats/config';
import type { Precond } from './types';

export type DdpmParams = Omit<Extract<PrecondSpec, { type: 'ddpm-eps' }>, 'type'>;

/** DDPMScheduler's betas in float32 (linear, scaled_linear, or the Glide cosine schedule squaredcos_cap_v2). */
export function ddpmBetas(p: DdpmParams): Float32Array {
  const T = p.num_train_timesteps;
  const f32 = Math.fround;
  const linspace = (a: number, b: number) => Float32Array.from({ length: T }, (_, i) => f32(T === 1 ? a : a + ((b - a) * i) / (T - 1)));
  if (p.beta_schedule === 'linear') return linspace(p.beta_start, p.beta_end);
  if (p.beta_schedule === 'scaled_linear') return linspace(Math.sqrt(p.beta_start), Math.sqrt(p.beta_end)).map((b) => b * b);
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  return Float32Array.from({ length: T }, (_, i) => Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999));
}

/**
 * abar_t = prod_{s <= t} (1 - beta_s) of the float32 alphas, accumulated in double and stored as float32, as
 * torch.cumprod does on a CPU (bit for bit, given the same betas; torch.linspace's own rounding of the betas differs
 * from ours by an ulp here and there, which moves sigma_t by up to about 2e-5 relative near t = 10).
 */
export function alphasCumprod(p: DdpmParams): Float32Array {
  const betas = ddpmBetas(p);
  const out = new Float32Array(betas.length);
  let acc = 1;
  betas.forEach((b, i) => { acc *= Math.fround(1 - b); out[i] = acc; });
  return out;
}

/** The training noise levels sigma_t, t = 0 .. T-1 (increasing). */
export function ddpmSigmas(p: DdpmParams): Float64Array {
  return Float64Array.from(alphasCumprod(p), (a) => Math.sqrt((1 - a) / a));
}

export function ddpmEpsPreconditioning(p: DdpmParams): Precond {
  const sigmas = ddpmSigmas(p);
  const logSigmas = Float64Array.from(sigmas, Math.log);
  const T = sigmas.length;
  /** t(sigma) for one sigma: the fractional timestep, clamped to [0, T-1]. */
  const timestep = (sigma: number): number => {
    const l = Math.log(sigma);
    if (!(l > logSigmas[0])) return 0;
    if (l >= logSigmas[T - 1]) return T - 1;
    let lo = 0;
    let hi = T - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (logSigmas[mid] <= l) lo = mid;
      else hi = mid;
    }
    return lo + (l - logSigmas[lo]) / (logSigmas[hi] - logSigmas[lo]);
  };
  const logTable = Float32Array.from(logSigmas);
  /** The same lookup on the device (no readback on the training step): hi = #{t : ln sigma_t < ln sigma}, clamped. */
  const cNoise = (sigma: tf.Tensor1D): tf.Tensor1D => {
    const table = tf.tensor1d(logTable);
    const l = tf.log(sigma);
    // counted and clipped as float32 (tfjs-wasm's ClipByValue of an int32 tensor returns float bits), then cast
    const hi = tf.clipByValue(tf.sum(tf.cast(tf.less(tf.reshape(table, [1, T]), tf.reshape(l, [-1, 1])), 'float32'), 1), 1, T - 1);
    const lo = tf.sub(hi, 1);
    const [lLo, lHi] = [tf.gather(table, tf.cast(lo, 'int32')), tf.gather(table, tf.cast(hi, 'int32'))];
    const t = tf.add(lo, tf.div(tf.sub(l, lLo), tf.sub(lHi, lLo)));
    return tf.clipByValue(t, 0, T - 1) as tf.Tensor1D;
  };
  return {
    type: 'ddpm-eps',
    at: (sigma) => ({ cSkip: 1, cOut: -sigma, cIn: 1 / Math.sqrt(1 + sigma * sigma), cNoise: timestep(sigma) }),
    tensors: (sigma) => ({
      cSkip: tf.onesLike(sigma),
      cOut: tf.neg(sigma),
      cIn: tf.rsqrt(tf.add(tf.square(sigma), 1)),
      cNoise: cNoise(sigma),
    }) as ReturnType<Precond['tensors']>,
    cNoise,
    trainedRange: [sigmas[0], sigmas[T - 1]],
  };
}

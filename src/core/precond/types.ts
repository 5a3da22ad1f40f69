/**
 * Preconditioning: how a denoiser D(x, sigma) = c_skip x + c_out F(c_in x, c_noise) wraps its network F (Karras et
 * al. 2022, Table 1). One formulation per file, chosen by the config's `precond.type` in index.ts.
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface PrecondCoefficients<T> {
  cSkip: T;
  cOut: T;
  cIn: T;
  cNoise: T;
}

export interface Precond {
  readonly type: string;
  /** The coefficients for one sigma. */
  at(sigma: number): PrecondCoefficients<number>;
  /** The same for a batch of sigmas, as [B] tensors (not tidied: call inside tf.tidy). */
  tensors(sigma: tf.Tensor1D): PrecondCoefficients<tf.Tensor1D>;
  /** c_noise alone, [B] (a student needs no other coefficient per sample). */
  cNoise(sigma: tf.Tensor1D): tf.Tensor1D;
  /** The noise levels the network was trained on, [lo, hi]: a sampler's range is clipped to it (EDM generate.py). */
  readonly trainedRange: [number, number];
}

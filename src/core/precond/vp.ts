/**
 * VPPrecond (Karras et al. 2022, Table 1, "VP"; Song et al. 2021's DDPM++): sigma(t) = sqrt(exp(beta_d t^2 / 2 +
 * beta_min t) - 1), c_skip = 1, c_out = -sigma, c_in = 1 / sqrt(sigma^2 + 1), c_noise = (M - 1) sigma^-1(sigma).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PrecondSpec } from '../../formats/config';
import type { Precond } from './types';

/** beta_d, beta_min, M, epsilon_t (EDM's defaults: 19.9, 0.1, 1000, 1e-5, in config.ts PRECOND_DEFAULTS). */
export type VpParams = Omit<Extract<PrecondSpec, { type: 'vp' }>, 'type'>;

export function vpSigma(t: number, p: VpParams): number {
  return Math.sqrt(Math.expm1(0.5 * p.beta_d * t * t + p.beta_min * t));
}

/** t = sigma^-1(sigma) = (sqrt(beta_min^2 + 2 beta_d ln(1 + sigma^2)) - beta_min) / beta_d. */
export function vpSigmaInv(sigma: number, p: VpParams): number {
  return (Math.sqrt(p.beta_min ** 2 + 2 * p.beta_d * Math.log1p(sigma * sigma)) - p.beta_min) / p.beta_d;
}

export function vpPreconditioning(p: VpParams): Precond {
  // ln(1 + sigma^2) as VPPrecond computes it in float32 (not log1p): the network was trained on those c_noise values,
  // and a Fourier embedding multiplies c_noise (up to M - 1) by its frequencies, so its rounding shows.
  const sigmaInv = (sigma: tf.Tensor1D) =>
    tf.div(tf.sub(tf.sqrt(tf.add(tf.mul(tf.log(tf.add(tf.square(sigma), 1)), 2 * p.beta_d), p.beta_min ** 2)), p.beta_min), p.beta_d) as tf.Tensor1D;
  return {
    type: 'vp',
    at(sigma) {
      return { cSkip: 1, cOut: -sigma, cIn: 1 / Math.sqrt(sigma * sigma + 1), cNoise: (p.M - 1) * vpSigmaInv(sigma, p) };
    },
    tensors(sigma) {
      return {
        cSkip: tf.onesLike(sigma),
        cOut: tf.neg(sigma),
        cIn: tf.rsqrt(tf.add(tf.square(sigma), 1)),
        cNoise: tf.mul(sigmaInv(sigma), p.M - 1),
      } as ReturnType<Precond['tensors']>;
    },
    cNoise: (sigma) => tf.mul(sigmaInv(sigma), p.M - 1),
    trainedRange: [vpSigma(p.epsilon_t, p), vpSigma(1, p)],
  };
}

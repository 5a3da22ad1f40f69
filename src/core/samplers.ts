/**
 * Probability-flow ODE solvers for dx/dt = (x - D(x, t)) / t, k-diffusion style: small pure functions over a
 * descending sigma schedule. A schedule that ends in 0 takes its last step with Euler (EDM, Karras et al. 2022,
 * Algorithm 1), so Heun on 18 Karras points plus 0 costs 35 network evaluations.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Denoiser, denoiseAt, karrasSigmas } from './edm';

export interface SamplerStep {
  /** Index of the step just taken (0-based). */
  i: number;
  /** The state after the step, at sigma = sigmaNext. Owned by the sampler: copy it (tf.clone) to keep it. */
  x: tf.Tensor;
  sigmaNext: number;
}

export type SamplerCallback = (step: SamplerStep) => void;

export interface SampleResult {
  x: tf.Tensor;
  nfe: number;
}

/** The ODE's derivative dx/dsigma = (x - D(x, sigma)) / sigma. */
export function toD(x: tf.Tensor, sigma: number, denoised: tf.Tensor): tf.Tensor {
  return tf.div(tf.sub(x, denoised), sigma);
}

/** Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1 without the correction). */
export function sampleEuler(denoiser: Denoiser, x0: tf.Tensor, sigmas: number[], callback?: SamplerCallback): SampleResult {
  let x = tf.clone(x0);
  let nfe = 0;
  for (let i = 0; i < sigmas.length - 1; i++) {
    const [s, sNext] = [sigmas[i], sigmas[i + 1]];
    const next = tf.tidy(() => tf.add(x, tf.mul(toD(x, s, denoiseAt(denoiser, x, s)), sNext - s)));
    nfe += 1;
    x.dispose();
    x = next;
    callback?.({ i, x, sigmaNext: sNext });
  }
  return { x, nfe };
}

/** Heun's second-order method (Karras et al. 2022, Algorithm 1): Euler plus a trapezoidal correction, except into sigma = 0. */
export function sampleHeun(denoiser: Denoiser, x0: tf.Tensor, sigmas: number[], callback?: SamplerCallback): SampleResult {
  let x = tf.clone(x0);
  let nfe = 0;
  for (let i = 0; i < sigmas.length - 1; i++) {
    const [s, sNext] = [sigmas[i], sigmas[i + 1]];
    const correct = sNext !== 0;
    const next = tf.tidy(() => {
      const d = toD(x, s, denoiseAt(denoiser, x, s));
      const xEuler = tf.add(x, tf.mul(d, sNext - s));
      if (!correct) return xEuler;
      const d2 = toD(xEuler, sNext, denoiseAt(denoiser, xEuler, sNext));
      return tf.add(x, tf.mul(tf.add(d, d2), (sNext - s) / 2));
    });
    nfe += correct ? 2 : 1;
    x.dispose();
    x = next;
    callback?.({ i, x, sigmaNext: sNext });
  }
  return { x, nfe };
}

export type SolverName = 'heun' | 'euler';

/** EDM's sampling schedule: `steps` Karras points from sigma_max to sigma_min, then 0. */
export function edmSamplingSigmas(steps: number, sigmaMin: number, sigmaMax: number, rho: number): number[] {
  return [...karrasSigmas(steps, sigmaMin, sigmaMax, rho), 0];
}

export function solve(solver: SolverName, denoiser: Denoiser, x0: tf.Tensor, sigmas: number[], callback?: SamplerCallback): SampleResult {
  return solver === 'heun' ? sampleHeun(denoiser, x0, sigmas, callback) : sampleEuler(denoiser, x0, sigmas, callback);
}

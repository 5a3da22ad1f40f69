/** The fault tests' shared fixtures: a small MLP student's schedule, spec and settings, and a teacher that fails on cue. */
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../../src/core/edm';
import type { PidSettings } from '../../src/core/pid';
import { GaussianMixtureDenoiser } from '../../src/core/teachers/gaussian-mixture';

export const edm = { sigma_data: 0.5, sigma_min: 0.002, sigma_max: 80, rho: 7 };
export const spec = { type: 'mlp' as const, hidden: 8, blocks: 1, emb_dim: 4, emb_max_freq: 2 };
export const settings: PidSettings = { N: 50, loss: 'l2', optimizer: 'radam', lr: 1e-3, batch: 8, ema: 0.9, seed: 3 };

/** A teacher that answers NaN on the calls `faulty` says (one call per encoded step). */
export function flakyTeacher(faulty: (call: number) => boolean): Denoiser & { dispose(): void } {
  const good = new GaussianMixtureDenoiser({ weights: [1], means: [[0.2, -0.1]], stds: [0.3] });
  let call = 0;
  return {
    denoise: (x, s) => (faulty(++call) ? tf.mul(good.denoise(x, s), NaN) : good.denoise(x, s)),
    dispose: () => good.dispose(),
  };
}

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { karrasSigmas } from '../../src/core/edm';
import { Rng } from '../../src/core/rng';
import { edmSamplingSigmas, sampleEuler, sampleHeun } from '../../src/core/samplers';
import { GaussianMixtureDenoiser } from '../../src/core/teachers/gaussian-mixture';
import { useBackend } from '../helpers/backend';

beforeAll(() => useBackend('cpu'));

// Data N(mu, s^2 I): x(t) = mu + (z - mu) sqrt(s^2 + t^2) / sqrt(s^2 + T^2)  (pid-method.md §4).
const mu = [0.3, -0.2];
const s = 0.4;
const T = 80;
const tEnd = 0.002;

function closedForm(z: Float32Array): Float32Array {
  const k = Math.sqrt(s * s + tEnd * tEnd) / Math.sqrt(s * s + T * T);
  return z.map((zi, i) => mu[i % 2] + (zi - mu[i % 2]) * k);
}

function maxError(solver: typeof sampleHeun, steps: number, z: tf.Tensor, exact: Float32Array): number {
  const teacher = new GaussianMixtureDenoiser({ weights: [1], means: [mu], stds: [s] });
  const { x } = solver(teacher, z, karrasSigmas(steps, tEnd, T, 7));
  const got = x.dataSync();
  x.dispose();
  teacher.dispose();
  return Math.max(...Array.from(got, (g, i) => Math.abs(g - exact[i])));
}

describe('ODE solvers on a single-Gaussian teacher', () => {
  const zHost = new Rng(3).normals(2 * 64, T);
  const exact = closedForm(zHost);

  it('Heun is second order: the error falls about 4x when steps double', () => {
    const z = tf.tensor2d(zHost, [64, 2]);
    // Measured here: 2.0e-2, 4.7e-3, 1.1e-3 (ratios 4.3, 4.1; coarser grids are pre-asymptotic).
    const errs = [32, 64, 128].map((n) => maxError(sampleHeun, n, z, exact));
    for (const r of [errs[0] / errs[1], errs[1] / errs[2]]) {
      expect(r).toBeGreaterThan(3.5);
      expect(r).toBeLessThan(4.8);
    }
    expect(errs[2]).toBeLessThan(2e-3);
    z.dispose();
  });

  it('Euler is first order: the error falls about 2x when steps double', () => {
    const z = tf.tensor2d(zHost, [64, 2]);
    // Measured here: 0.109, 0.055, 0.028.
    const errs = [32, 64, 128].map((n) => maxError(sampleEuler, n, z, exact));
    for (const r of [errs[0] / errs[1], errs[1] / errs[2]]) {
      expect(r).toBeGreaterThan(1.7);
      expect(r).toBeLessThan(2.3);
    }
    z.dispose();
  });

  it("EDM's Heun with 18 steps into sigma = 0 costs 35 evaluations and lands near the data", () => {
    const teacher = new GaussianMixtureDenoiser({ weights: [1], means: [mu], stds: [s] });
    const z = tf.tensor2d(zHost, [64, 2]);
    const { x, nfe } = sampleHeun(teacher, z, edmSamplingSigmas(18, tEnd, T, 7));
    expect(nfe).toBe(35);
    const k0 = s / Math.sqrt(s * s + T * T); // closed form at t = 0
    const got = x.dataSync();
    const sq = Array.from(got, (g, i) => (g - (mu[i % 2] + (zHost[i] - mu[i % 2]) * k0)) ** 2);
    const rms = Math.sqrt(sq.reduce((a, b) => a + b, 0) / sq.length);
    expect(rms).toBeLessThan(0.04); // 35 NFE is coarse on this narrow data: the largest error seen was 0.05, at |z| ~ 3T
    expect(sampleEuler(teacher, z, edmSamplingSigmas(18, tEnd, T, 7)).nfe).toBe(18);
    tf.dispose([x, z]);
    teacher.dispose();
  });

  it('leaks no tensors', () => {
    const teacher = new GaussianMixtureDenoiser({ weights: [1], means: [mu], stds: [s] });
    const z = tf.tensor2d(zHost, [64, 2]);
    const before = tf.memory().numTensors;
    const { x } = sampleHeun(teacher, z, edmSamplingSigmas(10, tEnd, T, 7), () => {});
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
    teacher.dispose();
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng';
import { GaussianMixtureDenoiser, type MixtureSpec, sampleMixture } from '../../src/core/teachers/gaussian-mixture';
import { useBackend } from '../helpers/backend';

beforeAll(() => useBackend('cpu'));

const spec: MixtureSpec = { weights: [0.5, 0.3, 0.2], means: [[-0.6, 0.1], [0.5, 0.5], [0.2, -0.7]], stds: [0.15, 0.3, 0.08] };

/** E[y | x = y + t n] by self-normalised importance sampling over n draws y_i of the data (float64). */
function monteCarloPosteriorMean(x: [number, number], t: number, draws: Float32Array): [number, number] {
  let wSum = 0;
  let m0 = 0;
  let m1 = 0;
  for (let i = 0; i < draws.length / 2; i++) {
    const d0 = x[0] - draws[2 * i];
    const d1 = x[1] - draws[2 * i + 1];
    const w = Math.exp(-(d0 * d0 + d1 * d1) / (2 * t * t));
    wSum += w;
    m0 += w * draws[2 * i];
    m1 += w * draws[2 * i + 1];
  }
  return [m0 / wSum, m1 / wSum];
}

describe('Gaussian-mixture teacher', () => {
  it('its exact denoiser matches a Monte-Carlo posterior mean', () => {
    const draws = sampleMixture(spec, 400_000, new Rng(11));
    const teacher = new GaussianMixtureDenoiser(spec);
    const points: [number, number][] = [[0, 0], [-0.5, 0.3], [0.6, 0.2], [0.1, -0.5], [1.2, -1.0]];
    for (const t of [0.3, 0.7, 2]) {
      const got = teacher.denoise(tf.tensor2d(points), tf.fill([points.length], t) as tf.Tensor1D).arraySync() as number[][];
      points.forEach((p, i) => {
        const mc = monteCarloPosteriorMean(p, t, draws);
        expect(Math.abs(got[i][0] - mc[0])).toBeLessThan(1.5e-2);
        expect(Math.abs(got[i][1] - mc[1])).toBeLessThan(1.5e-2);
      });
    }
    teacher.dispose();
  });

  it('is the single-Gaussian closed form for K = 1: D = mu + s^2/(s^2+t^2) (x - mu)', () => {
    const teacher = new GaussianMixtureDenoiser({ weights: [1], means: [[0.3, -0.2]], stds: [0.4] });
    const got = teacher.denoise(tf.tensor2d([[1, 2], [-3, 0]]), tf.tensor1d([0.5, 10])).arraySync() as number[][];
    const k = (t: number) => 0.16 / (0.16 + t * t);
    expect(got[0][0]).toBeCloseTo(0.3 + k(0.5) * 0.7, 5);
    expect(got[0][1]).toBeCloseTo(-0.2 + k(0.5) * 2.2, 5);
    expect(got[1][0]).toBeCloseTo(0.3 + k(10) * -3.3, 5);
    teacher.dispose();
  });

  it('goes to the nearest mode as t -> 0 and to the mixture mean as t -> infinity', () => {
    const teacher = new GaussianMixtureDenoiser(spec);
    const near = teacher.denoise(tf.tensor2d([[0.49, 0.52]]), tf.tensor1d([1e-3])).dataSync();
    expect(near[0]).toBeCloseTo(0.49, 3);
    const far = teacher.denoise(tf.tensor2d([[0.1, 0.2]]), tf.tensor1d([1e4])).dataSync();
    const mean = [0, 1].map((j) => spec.weights.reduce((a, w, k) => a + w * spec.means[k][j], 0));
    expect(far[0]).toBeCloseTo(mean[0], 4);
    expect(far[1]).toBeCloseTo(mean[1], 4);
    teacher.dispose();
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { edmDenoiser, edmPrecond, karrasSigmas } from '../../src/core/edm';
import { edmSamplingSigmas } from '../../src/core/samplers';
import { useBackend } from '../helpers/backend';

beforeAll(() => useBackend('cpu'));

describe('Karras grid', () => {
  it('runs from sigma_max to sigma_min with constant steps in sigma^(1/rho)', () => {
    const g = karrasSigmas(250, 0.002, 80, 7);
    expect(g).toHaveLength(250);
    expect(g[0]).toBe(80);
    expect(g[249]).toBe(0.002);
    const u = g.map((s) => s ** (1 / 7));
    const step = (0.002 ** (1 / 7) - 80 ** (1 / 7)) / 249;
    for (let i = 1; i < 250; i++) {
      expect(u[i] - u[i - 1]).toBeCloseTo(step, 12);
      expect(g[i]).toBeLessThan(g[i - 1]);
    }
  });

  it('matches the closed form at an interior point', () => {
    const g = karrasSigmas(18, 0.002, 80, 7);
    const t5 = (80 ** (1 / 7) + (5 / 17) * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7;
    expect(g[5]).toBeCloseTo(t5, 12);
  });

  it("EDM's sampling schedule appends 0", () => {
    const s = edmSamplingSigmas(18, 0.002, 80, 7);
    expect(s).toHaveLength(19);
    expect(s[18]).toBe(0);
  });

  it('refuses fewer than two points', () => {
    expect(() => karrasSigmas(1, 0.002, 80, 7)).toThrow(/n >= 2/);
  });
});

describe('EDM preconditioning', () => {
  it('has the textbook coefficients', () => {
    const p = edmPrecond(1, 0.5);
    expect(p.cSkip).toBeCloseTo(0.25 / 1.25, 12);
    expect(p.cOut).toBeCloseTo(0.5 / Math.sqrt(1.25), 12);
    expect(p.cIn).toBeCloseTo(1 / Math.sqrt(1.25), 12);
    expect(p.cNoise).toBe(0);
    // D(x, s) = x exactly for s -> 0: c_skip -> 1, c_out -> 0
    const small = edmPrecond(1e-6, 0.5);
    expect(small.cSkip).toBeCloseTo(1, 10);
    expect(small.cOut).toBeCloseTo(0, 5);
  });

  it('wraps a network: D = c_skip x + c_out F(c_in x, c_noise)', async () => {
    // F(u, c) = u + c (broadcast per sample): checks each coefficient lands where it should.
    const F = (u: tf.Tensor, c: tf.Tensor1D) => tf.add(u, tf.reshape(c, [-1, 1]));
    const D = edmDenoiser(F, 0.5);
    const x = tf.tensor2d([[1, -2], [3, 0.5]]);
    const sigma = tf.tensor1d([0.7, 5]);
    const got = await D.denoise(x, sigma).array();
    const xs = [[1, -2], [3, 0.5]];
    [0.7, 5].forEach((s, b) => {
      const p = edmPrecond(s, 0.5);
      xs[b].forEach((xi, j) => expect((got as number[][])[b][j]).toBeCloseTo(p.cSkip * xi + p.cOut * (p.cIn * xi + p.cNoise), 5));
    });
  });
});

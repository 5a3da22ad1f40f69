import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { preconditionedDenoiser } from '../../src/core/edm';
import { clippedSigmaRange, precondOf } from '../../src/core/precond';
import { vpSigma } from '../../src/core/precond/vp';
import { DEFAULT_EDM, PRECOND_DEFAULTS, type PrecondSpec } from '../../src/formats/config';
import { useBackend } from '../helpers/backend';

const SIGMAS = [0.002, 0.07, 2.5, 80];
const specs: PrecondSpec[] = [{ type: 'edm' }, { type: 'vp', ...PRECOND_DEFAULTS.vp }, { type: 've', ...PRECOND_DEFAULTS.ve }];
const of = (precond: PrecondSpec) => precondOf({ edm: DEFAULT_EDM, precond });

describe('preconditioning (Karras et al. 2022, Table 1)', () => {
  it('absent means EDM: the coefficients of EDMPrecond', async () => {
    await useBackend('cpu');
    const p = precondOf({ edm: DEFAULT_EDM });
    expect(p.type).toBe('edm');
    const c = p.at(2.5);
    expect(c.cSkip).toBeCloseTo(0.25 / 6.5, 14);
    expect(c.cOut).toBeCloseTo(1.25 / Math.sqrt(6.5), 14);
    expect(c.cIn).toBeCloseTo(1 / Math.sqrt(6.5), 14);
    expect(c.cNoise).toBeCloseTo(Math.log(2.5) / 4, 14);
  });

  it('VP: c_noise = (M - 1) t exactly where sigma = sigma(t), c_out = -sigma; VE: c_noise = ln(sigma / 2)', () => {
    const vp = of(specs[1]);
    for (const t of [1e-5, 0.01, 0.3, 1]) {
      const s = vpSigma(t, PRECOND_DEFAULTS.vp);
      expect(vp.at(s).cNoise).toBeCloseTo(999 * t, 6);
      expect(vp.at(s).cOut).toBe(-s);
      expect(vp.at(s).cIn).toBeCloseTo(1 / Math.sqrt(1 + s * s), 14);
    }
    // EDM's VPPrecond: sigma_min = sigma(epsilon_t), sigma_max = sigma(1)
    expect(vp.trainedRange[0]).toBeCloseTo(Math.sqrt(Math.expm1(0.5 * 19.9e-10 + 1e-6)), 12); // about 0.001
    expect(vp.trainedRange[1]).toBeCloseTo(Math.sqrt(Math.expm1(19.9 / 2 + 0.1)), 8);
    expect(clippedSigmaRange(vp, 0.002, 80)).toEqual([0.002, 80]);
    expect(clippedSigmaRange(vp, 0.0005, 200)).toEqual(vp.trainedRange);
    const ve = of(specs[2]);
    expect(ve.at(80)).toEqual({ cSkip: 1, cOut: 80, cIn: 1, cNoise: Math.log(40) });
    expect(clippedSigmaRange(ve, 0.002, 80)).toEqual([0.02, 80]);
  });

  it.each(specs.map((s) => [s.type, s] as const))('%s: batched tensors equal the per-sigma numbers, and D wraps F as c_skip x + c_out F(c_in x, c_noise)', async (_, spec) => {
    await useBackend('cpu');
    const p = of(spec);
    const before = tf.memory().numTensors;
    const sigma = tf.tensor1d(SIGMAS);
    const got = tf.tidy(() => {
      const c = p.tensors(sigma);
      return [c.cSkip, c.cOut, c.cIn, c.cNoise, p.cNoise(sigma)].map((t) => Array.from(t.dataSync()));
    });
    SIGMAS.forEach((s, i) => {
      const c = p.at(s);
      // VP's batched c_noise rounds 1 + sigma^2 to float32 first, as VPPrecond does (1.3% at sigma 0.002)
      const f32 = (v: number) => Math.fround(v);
      const vpNoise = 999 * (Math.sqrt(0.01 + 2 * 19.9 * Math.log(f32(1 + f32(s * s)))) - 0.1) / 19.9;
      const noise = spec.type === 'vp' ? vpNoise : c.cNoise;
      [c.cSkip, c.cOut, c.cIn, noise, noise].forEach((v, k) => expect(got[k][i]).toBeCloseTo(v, Math.abs(v) > 10 ? 3 : 5));
    });
    // F(u, c) = 2u + c: each coefficient lands where it should
    const D = preconditionedDenoiser((u, c) => tf.add(tf.mul(u, 2), tf.reshape(c, [-1, 1])), p);
    const x = tf.tensor2d(SIGMAS.map((s) => [s, -0.5 * s]));
    const dTensor = D.denoise(x, sigma);
    const d = dTensor.arraySync() as number[][];
    SIGMAS.forEach((s, i) => {
      const c = p.at(s);
      [s, -0.5 * s].forEach((xi, j) => {
        const want = c.cSkip * xi + c.cOut * (2 * c.cIn * xi + c.cNoise);
        expect(Math.abs(d[i][j] - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
      });
    });
    tf.dispose([sigma, x, dTensor]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

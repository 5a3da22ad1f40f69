/**
 * The ddpm-eps preconditioning (a diffusers DDPMScheduler model as an EDM denoiser): alphas_cumprod of the three beta
 * schedules against torch (test/torch/ddpm_schedules.py), t(sigma) exact at the training timesteps and linear in
 * ln sigma between them, on the device as on the host, and D(x, sigma) = x - sigma eps(x / sqrt(1 + sigma^2), t(sigma)).
 */
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { preconditionedDenoiser } from '../../src/core/edm';
import { precondOf } from '../../src/core/precond';
import { alphasCumprod, ddpmSigmas } from '../../src/core/precond/ddpm-eps';
import { DDPM_DEFAULTS, DEFAULT_EDM, type PrecondSpec, parseConfig } from '../../src/formats/config';
import { useBackend } from '../helpers/backend';

const SCHEDULES: Extract<PrecondSpec, { type: 'ddpm-eps' }>[] = [
  { type: 'ddpm-eps', ...DDPM_DEFAULTS },
  { type: 'ddpm-eps', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' },
  { type: 'ddpm-eps', num_train_timesteps: 500, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'squaredcos_cap_v2' },
];

describe('ddpm-eps preconditioning', () => {
  it('computes alphas_cumprod as DDPMScheduler does (torch, float32), for linear, scaled_linear and squaredcos_cap_v2', () => {
    let out: string;
    try {
      out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'torch', 'ddpm_schedules.py'), JSON.stringify(SCHEDULES)], { encoding: 'utf8' });
    } catch (e) {
      throw new Error(`/usr/bin/python3 with torch is needed (install Debian's python3-torch, as CI does): ${String((e as { stderr?: string }).stderr ?? e)}`);
    }
    const torch = JSON.parse(out) as number[][];
    SCHEDULES.forEach((p, k) => {
      const ours = alphasCumprod(p);
      expect(ours.length).toBe(torch[k].length);
      const worst = Math.max(...Array.from(ours, (a, i) => Math.abs(a - torch[k][i]) / torch[k][i]));
      expect(worst, p.beta_schedule).toBeLessThan(2e-6);
    });
    // google/ddpm-cifar10-32's linear schedule: sigma_0 = sqrt(1e-4 / (1 - 1e-4)), sigma_999 about 157
    const sigmas = ddpmSigmas(SCHEDULES[0]);
    expect(sigmas[0]).toBeCloseTo(Math.sqrt(1e-4 / (1 - 1e-4)), 5); // float32 betas
    expect(sigmas[999]).toBeGreaterThan(150);
    expect(sigmas[999]).toBeLessThan(160);
  });

  it('maps sigma to its timestep: exact at 0, 10, 500, 999, linear in ln sigma between, clamped outside, the same on the device', async () => {
    await useBackend('cpu');
    const p = precondOf({ edm: DEFAULT_EDM, precond: SCHEDULES[0] });
    const sigmas = ddpmSigmas(SCHEDULES[0]);
    const before = tf.memory().numTensors;
    const probes = [sigmas[0], sigmas[10], sigmas[500], sigmas[999], Math.sqrt(sigmas[10] * sigmas[11]), sigmas[0] / 2, sigmas[999] * 2];
    const host = probes.map((s) => p.at(s).cNoise);
    expect(host.slice(0, 4)).toEqual([0, 10, 500, 999]);
    expect(host[4]).toBeCloseTo(10.5, 6);
    expect(host.slice(5)).toEqual([0, 999]);
    const device = tf.tidy(() => Array.from(p.cNoise(tf.tensor1d(probes)).dataSync()));
    device.forEach((t, i) => expect(t).toBeCloseTo(host[i], 2));
    expect(p.trainedRange).toEqual([sigmas[0], sigmas[999]]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('wraps eps as D = x - sigma eps(x / sqrt(1 + sigma^2), t(sigma))', async () => {
    await useBackend('cpu');
    const p = precondOf({ edm: DEFAULT_EDM, precond: SCHEDULES[0] });
    const sigmas = ddpmSigmas(SCHEDULES[0]);
    // eps(u, t) = u + t / 1000: each coefficient lands where it should
    const D = preconditionedDenoiser((u, t) => tf.add(u, tf.reshape(tf.div(t, 1000), [-1, 1])), p);
    const s = [sigmas[0], sigmas[10], sigmas[500], sigmas[999]];
    const t = [0, 10, 500, 999];
    const d = tf.tidy(() => D.denoise(tf.tensor2d(s.map(() => [1, -2])), tf.tensor1d(s)).arraySync()) as number[][];
    s.forEach((sig, i) => [1, -2].forEach((x, j) => {
      const want = x - sig * (x / Math.sqrt(1 + sig * sig) + t[i] / 1000);
      expect(Math.abs(d[i][j] - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
    }));
  });

  it('is a config section with DDPMScheduler defaults and one-line errors', () => {
    const base = { format: 'pid-studio/1', role: 'teacher', name: 't', data: { shape: [2], range: [-1, 1] }, network: { type: 'gaussian-mixture', weights: [1], means: [[0, 0]], stds: [0.5] } };
    expect(parseConfig({ ...base, precond: { type: 'ddpm-eps' } }, 'c.json').precond).toEqual({ type: 'ddpm-eps', ...DDPM_DEFAULTS });
    expect(() => parseConfig({ ...base, precond: { type: 'ddpm-eps', beta_schedule: 'sigmoid' } }, 'c.json'))
      .toThrow(/c\.json: config field "precond\.beta_schedule" must be one of "linear", "scaled_linear", "squaredcos_cap_v2" \(got "sigmoid"\)/);
  });
});

/**
 * tfjs-webgpu in Node through Dawn (src/core/webgpu-node.ts), on whatever Vulkan adapter there is: in CI and on a
 * CPU machine Mesa's lavapipe (software). Without an adapter this FAILS and says what to install, unless
 * PID_SKIP_WEBGPU_NODE=1. The checks themselves live in scripts/webgpu-checks.ts, which also runs on a real GPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { DIFFUSERS_GRAD_NET, EDM_FD, EDM_GRAD_NETS, GROUP_NORM_VS_CPU_TOLERANCE, PID_VS_CPU_TOLERANCE, UNET_FD, diffusersGradientCheck, edmGradientCheck, groupNormVsCpu, pidGradientVsCpu, tensorsOverPidSteps, unetGradientCheck } from '../../scripts/webgpu-checks';
import { skipWebGpu, useNodeWebGpu } from '../helpers/webgpu';


describe.skipIf(skipWebGpu)('tfjs-webgpu in Node (Dawn, Vulkan)', () => {
  useNodeWebGpu();

  it('backpropagates a small unet correctly (central finite differences, float32)', async () => {
    await startBackend('webgpu');
    const probes = await unetGradientCheck();
    expect(probes).toHaveLength(36);
    for (const p of probes) {
      expect(p.error, `${p.name}[${p.index}]: autodiff ${p.autodiff}, finite difference ${p.finiteDifference}`).toBeLessThan(UNET_FD.tolerance);
    }
    // not vacuous: the probed gradients are not all zero
    expect(probes.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(24);
  });

  for (const which of Object.keys(EDM_GRAD_NETS) as (keyof typeof EDM_GRAD_NETS)[]) {
    it(`backpropagates the tiny ${which} correctly (central finite differences, float32)`, async () => {
      await startBackend('webgpu');
      const probes = await edmGradientCheck(which);
      expect(probes).toHaveLength(36);
      for (const p of probes) {
        expect(p.error, `${p.name}[${p.index}]: autodiff ${p.autodiff}, finite difference ${p.finiteDifference}`).toBeLessThan(EDM_FD.tolerance);
      }
      expect(probes.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(18);
    }, 300_000);
  }

  it('backpropagates the tiny diffusers UNet2DModel correctly (central finite differences, float32)', async () => {
    await startBackend('webgpu');
    const probes = await diffusersGradientCheck();
    expect(probes).toHaveLength(3 * DIFFUSERS_GRAD_NET.names.length);
    for (const p of probes) {
      expect(p.error, `${p.name}[${p.index}]: autodiff ${p.autodiff}, finite difference ${p.finiteDifference}`).toBeLessThan(EDM_FD.tolerance);
    }
    expect(probes.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(probes.length / 2);
  }, 300_000);

  it('computes the PID loss gradient of an mlp as the cpu backend does', async () => {
    const r = await pidGradientVsCpu();
    expect(tf.getBackend()).toBe('webgpu');
    expect(Math.abs(r.lossGpu - r.lossCpu)).toBeLessThan(1e-4 * Math.abs(r.lossCpu));
    expect(r.largest).toBeGreaterThan(1e-2);
    expect(r.maxDifference, `worst: ${r.worst}`).toBeLessThan(PID_VS_CPU_TOLERANCE * r.largest);
  });

  it('computes GroupNorm with SiLU, scale and shift or an add, and their gradients, as the cpu backend does (the e2e check)', async () => {
    const r = await groupNormVsCpu();
    expect(tf.getBackend()).toBe('webgpu');
    expect(r.kernels).toEqual(expect.arrayContaining(['PidGroupNormAct', 'PidGroupNormActGrad']));
    expect(r.variants).toHaveLength(4);
    for (const v of r.variants) expect(v.worst, `${v.name}: worst at ${v.what}`).toBeLessThan(GROUP_NORM_VS_CPU_TOLERANCE);
  });

  it('keeps tf.memory().numTensors flat over 20 PID training steps of a unet', async () => {
    await startBackend('webgpu');
    const { numTensors, losses } = await tensorsOverPidSteps(20);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(numTensors, 'tf.memory().numTensors after each step').toEqual(numTensors.map(() => numTensors[0]));
  });
});

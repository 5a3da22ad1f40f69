/**
 * The backend checks of scripts/webgpu-checks.ts in a browser page (bundled by e2e/gradients.spec.ts): the unet's,
 * the tiny EDM networks' and the tiny diffusers UNet2DModel's gradients against finite differences, the PID gradient against cpu, GroupNorm (+ SiLU, scale/shift, add), Linear, Conv2d and the flat vector against cpu and the tensor count over PID steps, on the
 * browser's own webgpu or webgl, the backends the studio trains on.
 */
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../../src/core/backend';
import { EDM_GRAD_NETS, type GpuBackend, diffusersGradientCheck, edmGradientCheck, groupNormVsCpu, layersVsCpu, pidGradientVsCpu, tensorsOverPidSteps, unetGradientCheck } from '../../scripts/webgpu-checks';

async function runChecks(backend: GpuBackend) {
  await startBackend(backend);
  const got = tf.getBackend();
  const unet = await unetGradientCheck();
  const edm: Record<string, Awaited<ReturnType<typeof edmGradientCheck>>> = {};
  for (const which of Object.keys(EDM_GRAD_NETS) as (keyof typeof EDM_GRAD_NETS)[]) edm[which] = await edmGradientCheck(which);
  const diffusers = await diffusersGradientCheck();
  const pid = await pidGradientVsCpu(backend);
  const groupNorm = await groupNormVsCpu(backend);
  const layers = await layersVsCpu(backend);
  await startBackend(backend);
  const tensors = await tensorsOverPidSteps(10);
  return { got, unet, edm, diffusers, pid, groupNorm, layers, tensors };
}

(globalThis as { runChecks?: typeof runChecks }).runChecks = runChecks;

/**
 * The fused SiLU of webgpu (src/core/kernels/webgpu-silu.ts) through Dawn in Node, on whatever Vulkan adapter there
 * is (lavapipe on a CPU machine): values and gradients of nets/layers.ts's silu against the same on cpu (its tfjs-op
 * path), for sizes that are and are not multiples of the workgroup size; that the fused kernels ran; and no tensor
 * left behind. Fails without an adapter unless PID_SKIP_WEBGPU_NODE=1, as webgpu-node.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import '../../src/core/gradients';
import { startBackend } from '../../src/core/backend';
import { SILU, SILU_GRAD, fusedWebGpuSilu } from '../../src/core/kernels/webgpu-silu';
import { silu } from '../../src/core/nets/layers';
import { Rng } from '../../src/core/rng';
import { maxRelative, skipWebGpu, useNodeWebGpu } from '../helpers/webgpu';


const SHAPES: number[][] = [
  [1], // one element
  [127], // one short workgroup
  [128], // exactly one workgroup
  [3, 5, 7], // 105
  [2, 8, 8, 16], // 2048, a multiple of 128
  [3, 9, 11, 13], // 3861, not a multiple
  [4, 28, 28, 32], // 100352
];

interface Result {
  y: Float32Array;
  dx: Float32Array;
}

function hostData(shape: number[]) {
  const size = shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(size + 7);
  // a wide range, with large |x| where sigmoid saturates (exp overflows for x << 0)
  const x = Float32Array.from({ length: size }, (_, i) => (i % 97 === 0 ? (i % 2 ? 1 : -1) * 120 : 4 * rng.normal()));
  const r = Float32Array.from({ length: size }, () => rng.normal()); // the loss is sum(silu(x) r)
  return { x, r };
}

/** y and the gradient of sum(y r) on the current backend, through nets/layers.ts's silu. */
async function run(shape: number[]): Promise<Result> {
  const h = hostData(shape);
  const x = tf.tensor(h.x, shape);
  const r = tf.tensor(h.r, shape);
  const y = silu(x);
  const { value, grads } = tf.valueAndGrads((xs: tf.Tensor) => tf.sum(tf.mul(silu(xs), r)) as tf.Scalar)([x]);
  expect(y.shape).toEqual(shape);
  expect(grads[0].shape).toEqual(shape);
  const out = { y: (await y.data()) as Float32Array, dx: (await grads[0].data()) as Float32Array };
  tf.dispose([x, r, y, value, ...grads]);
  return out;
}

describe.skipIf(skipWebGpu)('the fused SiLU of webgpu (Dawn, Vulkan) against the composed one on cpu', () => {
  useNodeWebGpu();

  it('runs PidSilu forward and PidSiluGrad backward, one program each, instead of sigmoid and mul', async () => {
    await startBackend('webgpu');
    expect(fusedWebGpuSilu('webgpu')).toBe(true);
    expect(fusedWebGpuSilu('cpu')).toBe(false);
    const x = tf.randomNormal([2, 5, 5, 3]);
    const profile = await tf.profile(async () => {
      const g = tf.grad((xs: tf.Tensor) => tf.sum(silu(xs)) as tf.Scalar)(x);
      await g.data();
      return g;
    });
    expect(profile.kernelNames).toContain(SILU);
    expect(profile.kernelNames).toContain(SILU_GRAD);
    expect(profile.kernelNames).not.toContain('Sigmoid');
    tf.dispose(x);
  });

  for (const shape of SHAPES) {
    it(`${shape.join('x')} (${shape.reduce((a, b) => a * b, 1)} elements): values and gradients`, async () => {
      await startBackend('webgpu');
      tf.disposeVariables();
      const before = tf.memory().numTensors;
      const gpu = await run(shape);
      expect(tf.memory().numTensors, 'tensors left behind on webgpu').toBeLessThanOrEqual(before);

      await startBackend('cpu');
      const cpu = await run(shape);
      await startBackend('webgpu');
      for (const k of ['y', 'dx'] as const) {
        expect(gpu[k].length).toBe(cpu[k].length);
        expect(gpu[k].every(Number.isFinite), `${k} finite`).toBe(true);
        expect(maxRelative(gpu[k], cpu[k]), `${k}: max |webgpu - cpu| over max(1, max |cpu|)`).toBeLessThan(2e-5);
      }
    }, 60_000);
  }
});

/**
 * The fused GroupNorm of webgpu (src/core/kernels/webgpu-group-norm.ts) through Dawn in Node, on whatever Vulkan
 * adapter there is (lavapipe on a CPU machine): values and gradients (x, w, b) against the composed GroupNorm on
 * cpu, and the kernel's own mean and rstd. Fails without an adapter unless PID_SKIP_WEBGPU_NODE=1, as
 * webgpu-node.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../src/core/gradients';
import { startBackend } from '../../src/core/backend';
import { GROUP_NORM } from '../../src/core/kernels/wasm-group-norm';
import { fusedWebGpuGroupNorm } from '../../src/core/kernels/webgpu-group-norm';
import { groupNorm } from '../../src/core/nets/layers';
import { Rng } from '../../src/core/rng';
import { installNodeWebGpu } from '../../src/core/webgpu-node';

const skip = process.env.PID_SKIP_WEBGPU_NODE === '1';

interface Case {
  shape: [number, number, number, number];
  groups: number;
  /** Added to x: GroupNorm of an offset signal (the statistics are two-pass). */
  offset: number;
}

const CASES: Case[] = [
  { shape: [2, 8, 8, 8], groups: 2, offset: 0 }, // groups of 4 channels
  { shape: [3, 5, 7, 16], groups: 4, offset: 3 }, // groups of 4, pixels not a multiple of anything
  { shape: [2, 4, 4, 12], groups: 4, offset: 0 }, // groups of 3
  { shape: [1, 6, 6, 10], groups: 1, offset: -2 }, // one group of 10
  { shape: [2, 3, 3, 64], groups: 2, offset: 0 }, // groups of 32
  { shape: [4, 16, 16, 8], groups: 8, offset: 1 }, // groups of 1, 256 pixels
  { shape: [1, 1, 1, 8], groups: 2, offset: 0 }, // one pixel
];

interface Result {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
}

function hostData(c: Case) {
  const rng = new Rng(c.shape.reduce((a, b) => a * b, c.groups));
  const size = c.shape.reduce((a, b) => a * b, 1);
  const C = c.shape[3];
  const x = Float32Array.from({ length: size }, () => c.offset + rng.normal());
  const w = Float32Array.from({ length: C }, () => 1 + 0.5 * rng.normal());
  const b = Float32Array.from({ length: C }, () => 0.3 * rng.normal());
  const r = Float32Array.from({ length: size }, () => rng.normal()); // the loss is sum(y r)
  return { x, w, b, r };
}

/** y and the gradients of sum(y r) on the current backend, through nets/layers.ts's groupNorm. */
async function run(c: Case): Promise<Result> {
  const h = hostData(c);
  const C = c.shape[3];
  const x = tf.tensor4d(h.x, c.shape);
  const w = tf.tensor1d(h.w);
  const b = tf.tensor1d(h.b);
  const r = tf.tensor4d(h.r, c.shape);
  const f = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => {
    const params = new Map<string, tf.Tensor>([['n.weight', ws], ['n.bias', bs]]);
    return groupNorm(params, 'n', xs as tf.Tensor4D, c.groups);
  };
  const y = f(x, w, b);
  const { value, grads } = tf.valueAndGrads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(f(xs, ws, bs), r)) as tf.Scalar)([x, w, b]);
  const out = {
    y: (await y.data()) as Float32Array,
    dx: (await grads[0].data()) as Float32Array,
    dw: (await grads[1].data()) as Float32Array,
    db: (await grads[2].data()) as Float32Array,
  };
  expect(grads[1].shape).toEqual([C]);
  tf.dispose([x, w, b, r, y, value, ...grads]);
  return out;
}

function maxRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

describe.skipIf(skip)('the fused GroupNorm of webgpu (Dawn, Vulkan) against the composed one on cpu', () => {
  beforeAll(async () => {
    try {
      await installNodeWebGpu();
    } catch (e) {
      throw new Error(`${(e as Error).message}. Set PID_SKIP_WEBGPU_NODE=1 to skip these tests.`);
    }
    expect((await startBackend('webgpu')).got).toBe('webgpu');
  });

  for (const c of CASES) {
    it(`${c.shape.join('x')}, ${c.groups} groups of ${c.shape[3] / c.groups}${c.offset ? `, x offset by ${c.offset}` : ''}: values and gradients of x, w, b`, async () => {
      await startBackend('webgpu');
      expect(fusedWebGpuGroupNorm('webgpu', c.shape[3], c.groups)).toBe(true);
      const profile = await tf.profile(async () => {
        const t = groupNorm(new Map([['n.weight', tf.ones([c.shape[3]])], ['n.bias', tf.zeros([c.shape[3]])]]), 'n', tf.ones(c.shape), c.groups);
        await t.data();
        return t;
      });
      expect(profile.kernelNames).toContain(GROUP_NORM);
      tf.disposeVariables();
      const before = tf.memory().numTensors;
      const gpu = await run(c);
      expect(tf.memory().numTensors, 'tensors left behind on webgpu').toBeLessThanOrEqual(before);

      await startBackend('cpu');
      const cpu = await run(c);
      await startBackend('webgpu');
      for (const k of ['y', 'dx', 'dw', 'db'] as const) {
        expect(gpu[k].length).toBe(cpu[k].length);
        expect(gpu[k].every(Number.isFinite), `${k} finite`).toBe(true);
        expect(maxRelative(gpu[k], cpu[k]), `${k}: max |webgpu - cpu| over max(1, max |cpu|)`).toBeLessThan(2e-5);
      }
    }, 60_000);
  }

  it("returns the groups' mean and rstd = 1 / sqrt(var + eps) as its second and third outputs", async () => {
    await startBackend('webgpu');
    const c: Case = { shape: [2, 5, 5, 12], groups: 3, offset: 2 };
    const h = hostData(c);
    const eps = 1e-3;
    const [B, H, W, C] = c.shape;
    const S = C / c.groups;
    const outs = tf.engine().runKernel(GROUP_NORM, { x: tf.tensor4d(h.x, c.shape), w: tf.tensor1d(h.w), b: tf.tensor1d(h.b) }, { groups: c.groups, eps }) as tf.Tensor[];
    expect(outs.map((t) => t.shape)).toEqual([c.shape, [B, c.groups], [B, c.groups]]);
    const mean = await outs[1].data();
    const rstd = await outs[2].data();
    for (let b = 0; b < B; b++) {
      for (let g = 0; g < c.groups; g++) {
        const v: number[] = [];
        for (let p = 0; p < H * W; p++) for (let j = 0; j < S; j++) v.push(h.x[(b * H * W + p) * C + g * S + j]);
        const m = v.reduce((a, x) => a + x, 0) / v.length;
        const variance = v.reduce((a, x) => a + (x - m) ** 2, 0) / v.length;
        expect(mean[b * c.groups + g]).toBeCloseTo(m, 5);
        expect(rstd[b * c.groups + g]).toBeCloseTo(1 / Math.sqrt(variance + eps), 5);
      }
    }
    tf.dispose(outs);
  });
});

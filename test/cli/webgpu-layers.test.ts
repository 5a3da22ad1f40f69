/**
 * The webgpu Linear and Conv2d (src/core/nets/webgpu-layers.ts) and the column sums they take for bias gradients
 * (src/core/kernels/webgpu-column-sum.ts), through Dawn in Node: values and gradients of x, weight and bias against
 * nets/layers.ts on cpu, over shapes that are and are not multiples of the workgroup size and of the tiles, with one
 * and several chunks of the weight gradient's reduction (kernels/webgpu-conv-filter-grad.ts); that the webgpu path
 * ran (no Transpose forward for a Linear, no Sum for a bias, the tiled convolution gradients); a frozen network's kept HWIO filters give the same output
 * and are freed with it. Fails without an adapter unless PID_SKIP_WEBGPU_NODE=1, as webgpu-node.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import '../../src/core/gradients';
import { startBackend } from '../../src/core/backend';
import { COLUMN_SUM, columnSum } from '../../src/core/kernels/webgpu-column-sum';
import { CONV_FILTER_GRAD } from '../../src/core/kernels/webgpu-conv-filter-grad';
import { Network } from '../../src/core/nets';
import { conv2d, linear, residualAdd } from '../../src/core/nets/layers';
import { ADD_SCALE } from '../../src/core/kernels/webgpu-add-scale';
import type { Params } from '../../src/core/nets/params';
import { DEFAULT_UNET } from '../../src/core/nets/unet';
import { initParams } from '../../src/core/nets';
import { frozenFilterBytes } from '../../src/core/nets/webgpu-layers';
import { Rng } from '../../src/core/rng';
import { maxRelative, skipWebGpu, useNodeWebGpu } from '../helpers/webgpu';


type Layer = 'linear' | 'conv';
interface Case { layer: Layer; x: number[]; w: number[] }

const CASES: Case[] = [
  { layer: 'linear', x: [1, 1], w: [1, 1] },
  { layer: 'linear', x: [3, 5], w: [7, 5] },
  { layer: 'linear', x: [300, 17], w: [33, 17] }, // rows over one workgroup of the column sum
  { layer: 'conv', x: [1, 1, 1, 1], w: [1, 1, 3, 3] },
  { layer: 'conv', x: [2, 5, 7, 3], w: [4, 3, 3, 3] },
  { layer: 'conv', x: [3, 9, 9, 8], w: [16, 8, 3, 3] },
  { layer: 'conv', x: [2, 6, 6, 2], w: [3, 2, 5, 5] },
  { layer: 'conv', x: [2, 28, 28, 16], w: [16, 16, 3, 3] }, // channels in fours (vec4 loads), many tiles
  { layer: 'conv', x: [1, 7, 7, 32], w: [64, 32, 3, 3] },
];

function hostCase(c: Case) {
  const rng = new Rng(c.x.reduce((a, b) => a * b, 1) + c.w[0]);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const out = c.layer === 'linear' ? [c.x[0], c.w[0]] : [...c.x.slice(0, 3), c.w[0]];
  return {
    x: rng.normals(size(c.x), 1), w: rng.normals(size(c.w), 0.5), b: rng.normals(c.w[0], 1), r: rng.normals(size(out), 1),
  };
}

/** y and the gradients of sum(y r) with respect to x, the weight and the bias, through nets/layers.ts. */
async function run(c: Case): Promise<Float32Array[]> {
  const h = hostCase(c);
  const [x, w, b] = [tf.tensor(h.x, c.x), tf.tensor(h.w, c.w), tf.tensor1d(h.b)];
  const apply = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => {
    const p: Params = new Map([['l.weight', ws], ['l.bias', bs]]);
    return c.layer === 'linear' ? linear(p, 'l', xs as tf.Tensor2D) : conv2d(p, 'l', xs as tf.Tensor4D);
  };
  const y = apply(x, w, b);
  const r = tf.tensor(h.r, y.shape);
  const { value, grads } = tf.valueAndGrads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(apply(xs, ws, bs), r)) as tf.Scalar)([x, w, b]);
  const out = [y, ...grads];
  const data = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([x, w, b, r, value, ...out]);
  return data;
}

describe.skipIf(skipWebGpu)('Linear and Conv2d of webgpu (Dawn, Vulkan) against layers.ts on cpu', () => {
  useNodeWebGpu();

  for (const c of CASES) {
    it(`${c.layer} x [${c.x}] weight [${c.w}]: y, dx, dW, db`, async () => {
      await startBackend('webgpu');
      const before = tf.memory().numTensors;
      const gpu = await run(c);
      expect(tf.memory().numTensors, 'tensors left behind on webgpu').toBe(before);
      await startBackend('cpu');
      const cpu = await run(c);
      await startBackend('webgpu');
      ['y', 'dx', 'dW', 'db'].forEach((name, i) => {
        expect(gpu[i].length, name).toBe(cpu[i].length);
        expect(maxRelative(gpu[i], cpu[i]), `${name}: max |webgpu - cpu| over max(1, max |cpu|)`).toBeLessThan(3e-5);
      });
    }, 60_000);
  }

  it('runs the fused product and the column sums: no Transpose or Add forward, no Sum backward', async () => {
    await startBackend('webgpu');
    const [x, w, b] = [tf.randomNormal([4, 6]), tf.randomNormal([5, 6]), tf.randomNormal([5])];
    const p: Params = new Map([['l.weight', w], ['l.bias', b]]);
    const forward = await tf.profile(() => linear(p, 'l', x as tf.Tensor2D));
    expect(forward.kernelNames).toContain('_FusedMatMul');
    for (const k of ['Transpose', 'Add', 'BatchMatMul']) expect(forward.kernelNames).not.toContain(k);
    const backward = await tf.profile(() => tf.grads((ws: tf.Tensor, bs: tf.Tensor) => tf.sum(linear(new Map([['l.weight', ws], ['l.bias', bs]]), 'l', x as tf.Tensor2D)) as tf.Scalar)([w, b]));
    expect(backward.kernelNames).toContain(COLUMN_SUM);
    expect(backward.kernelNames.filter((k) => k === 'Sum')).toHaveLength(1); // the loss's own sum only
    tf.dispose([x, w, b, forward.result, ...(backward.result as tf.Tensor[])]);
  });

  it('takes the tiled gradients for a Conv2d: PidConvFilterGrad (no Transpose back) and the tiled Conv2DBackpropInput', async () => {
    await startBackend('webgpu');
    expect(tf.env().getBool('WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE')).toBe(false);
    const [x, w, b] = [tf.randomNormal([2, 6, 6, 4]), tf.randomNormal([8, 4, 3, 3]), tf.randomNormal([8])];
    const loss = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(conv2d(new Map([['l.weight', ws], ['l.bias', bs]]), 'l', xs as tf.Tensor4D)) as tf.Scalar;
    const backward = await tf.profile(() => tf.grads(loss)([x, w, b]));
    expect(backward.kernelNames).toContain(CONV_FILTER_GRAD);
    expect(backward.kernelNames).toContain('Conv2DBackpropInput');
    for (const k of ['Conv2DBackpropFilter', 'Sum']) expect(backward.kernelNames.filter((n) => n === k).length, k).toBe(k === 'Sum' ? 1 : 0);
    tf.dispose([x, w, b, ...(backward.result as tf.Tensor[])]);
  });

  it('adds and scales a residual sum in one program (PidAddScale), with the gradient of cpu', async () => {
    const run = async () => {
      const rng = new Rng(11);
      const [a, b, r] = [0, 1, 2].map(() => tf.tensor4d(rng.normals(2 * 5 * 3 * 7, 1), [2, 5, 3, 7]));
      const f = (x: tf.Tensor, y: tf.Tensor) => residualAdd(x, y, Math.SQRT1_2);
      const profile = await tf.profile(() => f(a, b));
      const grads = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), r)) as tf.Scalar)([a, b]);
      const out = await Promise.all([profile.result as tf.Tensor, ...grads].map(async (t) => (await t.data()) as Float32Array));
      tf.dispose([a, b, r, profile.result as tf.Tensor, ...grads]);
      return { out, kernels: profile.kernelNames };
    };
    await startBackend('webgpu');
    const gpu = await run();
    expect(gpu.kernels).toContain(ADD_SCALE);
    expect(gpu.kernels).not.toContain('Multiply');
    await startBackend('cpu');
    const cpu = await run();
    await startBackend('webgpu');
    gpu.out.forEach((g, i) => expect(maxRelative(g, cpu.out[i]), ['y', 'da', 'db'][i]).toBeLessThan(1e-6));
  });

  it('sums columns of [N, C] for N below, at and over the workgroup size, and C over 65535 workgroups', async () => {
    await startBackend('webgpu');
    for (const shape of [[1, 1], [255, 3], [256, 2], [1000, 40], [2, 70_000]]) {
      const rng = new Rng(shape[0]);
      const host = rng.normals(shape[0] * shape[1], 1);
      const got = await columnSum(tf.tensor2d(host, shape as [number, number])).data();
      const want = new Float64Array(shape[1]);
      for (let i = 0; i < host.length; i++) want[i % shape[1]] += host[i];
      const err = Math.max(...Array.from(got, (g, i) => Math.abs(g - want[i])));
      expect(err, `[${shape}]`).toBeLessThan(1e-4 * Math.sqrt(shape[0]));
    }
  });

  it("a frozen network keeps its convs' HWIO filters: the same output, and all freed with it", async () => {
    await startBackend('webgpu');
    const before = tf.memory().numTensors;
    const spec = { ...DEFAULT_UNET, channels: 8, channel_mult: [1, 2], blocks_per_level: 1, attn_levels: [], groups: 4 };
    const host = initParams(spec, [8, 8, 1], new Rng(4));
    const x = tf.randomNormal([2, 8, 8, 1]);
    const c = tf.tensor1d([0.3, -1.2]);
    const frozen = new Network(spec, [8, 8, 1], host, false);
    const trainable = new Network(spec, [8, 8, 1], host, true);
    const kept = tf.memory().numTensors - before - 2 * host.size - 2;
    expect(kept, 'one kept filter per 3x3 conv').toBe([...host.values()].filter((t) => t.shape.length === 4 && t.shape[2] * t.shape[3] > 1).length);
    const convWeights = [...host.values()].filter((t) => t.shape.length === 4 && t.shape[2] * t.shape[3] > 1);
    expect(frozenFilterBytes(frozen.params), "the plan's count of the kept filters").toBe(4 * convWeights.reduce((n, t) => n + t.data.length, 0));
    expect(frozenFilterBytes(trainable.params)).toBe(0);
    const profile = await tf.profile(() => frozen.apply(x, c));
    expect(profile.kernelNames).not.toContain('Transpose');
    const [a, b] = [profile.result as tf.Tensor, trainable.apply(x, c)];
    expect(maxRelative((await a.data()) as Float32Array, (await b.data()) as Float32Array)).toBe(0);
    tf.dispose([a, b, x, c]);
    frozen.dispose();
    trainable.dispose();
    tf.disposeVariables();
    expect(tf.memory().numTensors).toBe(before);
  });
});

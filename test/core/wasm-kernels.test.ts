import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { describe, expect, it, vi } from 'vitest';
import { SimdKernels, useSimdKernels } from '../../src/core/kernels/simd-module';
import { Rng } from '../../src/core/rng';
import { useBackend } from '../helpers/backend';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case { name: string; x: [number, number, number, number]; w: [number, number, number, number]; stride: number; pad: Pad }

const cases: Case[] = [
  { name: '3x3 same, batch 2', x: [2, 5, 5, 3], w: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { name: '3x3 valid, batch 3, non-square', x: [3, 8, 6, 4], w: [3, 3, 4, 5], stride: 1, pad: 'valid' },
  { name: '1x1, batch 2', x: [2, 7, 7, 2], w: [1, 1, 2, 6], stride: 1, pad: 'same' },
  { name: '2x2 same (asymmetric padding)', x: [2, 9, 8, 3], w: [2, 2, 3, 4], stride: 1, pad: 'same' },
  { name: 'explicit padding, 3x2 filter', x: [2, 6, 5, 2], w: [3, 2, 2, 3], stride: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { name: 'stride 2 same (input gradient: stock kernel)', x: [2, 7, 7, 3], w: [3, 3, 3, 2], stride: 2, pad: 'same' },
  { name: 'UNet-sized 3x3 same, batch 4', x: [4, 14, 14, 16], w: [3, 3, 16, 8], stride: 1, pad: 'same' },
  // Fewer output than input channels: the filter gradient takes its patches of dy instead of x.
  { name: 'out < in: 3x3 valid', x: [3, 8, 6, 4], w: [3, 3, 4, 1], stride: 1, pad: 'valid' },
  { name: 'out < in: 2x2 same', x: [2, 9, 8, 5], w: [2, 2, 5, 2], stride: 1, pad: 'same' },
  { name: 'out < in: explicit padding', x: [2, 6, 5, 3], w: [3, 2, 3, 1], stride: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { name: 'out < in: stride 2 same', x: [2, 7, 7, 4], w: [3, 3, 4, 1], stride: 2, pad: 'same' },
  // Output channels in sixteens: the SIMD filter gradient (simd-module.ts).
  { name: 'SIMD: 3x3 same, 16 out', x: [2, 6, 5, 3], w: [3, 3, 3, 16], stride: 1, pad: 'same' },
  { name: 'SIMD: 3x3 valid, 32 out, odd channels', x: [3, 7, 6, 5], w: [3, 3, 5, 32], stride: 1, pad: 'valid' },
  { name: 'SIMD: 1x1, 48 out', x: [2, 5, 5, 16], w: [1, 1, 16, 48], stride: 1, pad: 'same' },
  { name: 'SIMD: 2x2 same, asymmetric padding', x: [2, 9, 8, 16], w: [2, 2, 16, 16], stride: 1, pad: 'same' },
  { name: 'SIMD: explicit padding, 3x2 filter', x: [2, 6, 5, 4], w: [3, 2, 4, 32], stride: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { name: 'SIMD: 16 in, 16 out, odd pixel count', x: [1, 7, 7, 16], w: [3, 3, 16, 16], stride: 1, pad: 'same' },
  { name: 'SIMD: stride 2 (the im2col path)', x: [2, 8, 8, 4], w: [3, 3, 4, 16], stride: 2, pad: 'same' },
];

function values(shape: number[], seed: number): Float32Array {
  return Float32Array.from(new Rng(seed).normals(shape.reduce((a, b) => a * b, 1)));
}

interface Results { y: Float32Array; dx: Float32Array; dw: Float32Array; filterKernel: Float32Array; inputKernel: Float32Array }

/** The convolution, its gradients through tf.grads, and the two backprop kernels run directly, on the current backend. */
function compute(c: Case): Results {
  return tf.tidy(() => {
    const x = tf.tensor4d(values(c.x, 1), c.x);
    const w = tf.tensor4d(values(c.w, 2), c.w);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, c.stride, c.pad);
    const y = conv(x, w);
    const dyValues = values(y.shape, 3);
    const dy = tf.tensor(dyValues, y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), dy)))([x, w]);
    const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC' };
    const filterKernel = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: c.w }) as tf.Tensor;
    const inputKernel = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: c.x }) as tf.Tensor;
    const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return { y: read(y), dx: read(dx), dw: read(dw), filterKernel: read(filterKernel), inputKernel: read(inputKernel) };
  });
}

function expectClose(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  expect(worst, `${what}: worst relative difference`).toBeLessThan(1e-4);
}

describe('wasm convolution kernels', () => {
  it('are registered when the wasm backend starts', async () => {
    await useBackend('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBeDefined();
  });

  it.each(cases.flatMap((c) => [{ ...c, simd: true }, { ...c, simd: false }]))('match the cpu backend: $name (SIMD kernels $simd)', async (c) => {
    await useBackend('cpu');
    const want = compute(c);
    await useBackend('wasm');
    useSimdKernels(c.simd);
    let got: Results;
    try {
      got = compute(c);
    } finally {
      useSimdKernels(true);
    }
    expectClose(got.y, want.y, 'forward');
    expectClose(got.dx, want.dx, 'dx through tf.grads');
    expectClose(got.dw, want.dw, 'dW through tf.grads');
    expectClose(got.filterKernel, want.filterKernel, 'Conv2DBackpropFilter');
    expectClose(got.inputKernel, want.inputKernel, 'Conv2DBackpropInput');
    expectClose(got.filterKernel, got.dw, 'Conv2DBackpropFilter vs tf.grads');
  });

  it('take the SIMD filter gradient for stride 1 and output channels in sixteens, and only there', async () => {
    await useBackend('wasm');
    const filter = vi.spyOn(SimdKernels.prototype, 'convFilterGrad');
    try {
      for (const c of cases) {
        filter.mockClear();
        compute(c);
        // dW through tf.grads and the kernel run directly
        expect(filter.mock.calls.length, c.name).toBe(c.stride === 1 && c.w[3] % 16 === 0 ? 2 : 0);
      }
    } finally {
      filter.mockRestore();
    }
  });

  it('free every buffer they allocate', async () => {
    await useBackend('wasm');
    compute(cases[0]);
    const backend = tf.engine().backend;
    const before = { ids: backend.numDataIds(), tensors: tf.memory().numTensors };
    for (const c of cases) compute(c);
    expect(backend.numDataIds()).toBe(before.ids);
    expect(tf.memory().numTensors).toBe(before.tensors);
  });
});

describe('wasm zero-copy Identity', () => {
  it('clones share data, stay valid after the original is disposed, and free it with the last owner', async () => {
    await useBackend('wasm');
    const backend = tf.engine().backend;
    const before = backend.numDataIds();
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const c = tf.clone(x);
    expect(backend.numDataIds()).toBe(before + 1); // one buffer, two owners
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4]);
    expect(c.shape).toEqual([2, 2]);
    c.dispose();
    expect(backend.numDataIds()).toBe(before);
  });

  it('keeps a clone of a variable unchanged when the variable is assigned', async () => {
    await useBackend('wasm');
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const c = tf.clone(v);
    v.assign(tf.tensor1d([7, 8, 9]));
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([7, 8, 9]);
    tf.dispose([v, c]);
  });

  it('still clones string tensors', async () => {
    await useBackend('wasm');
    const s = tf.tensor1d(['a', 'b'], 'string');
    const c = tf.clone(s);
    s.dispose();
    expect(c.dataSync()).toEqual(['a', 'b']);
    c.dispose();
  });
});

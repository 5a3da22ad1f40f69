/**
 * The WebAssembly SIMD kernels (wasm/kernels.ts through src/core/kernels/simd-module.ts) and the wasm kernels built on
 * them or beside them: BatchMatMul over batches, GroupNorm and Concat, against the cpu backend, and through central differences, which are
 * exact up to rounding for the (bi)linear maps. The convolution filter gradient's cases against cpu are in
 * wasm-kernels.test.ts, run with the SIMD kernels and without.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { SimdKernels, simdKernels } from '../../src/core/kernels/simd-module';
import { groupNorm } from '../../src/core/nets/layers';
import { Rng } from '../../src/core/rng';
import { BINARY_MODULE, binaryModuleText, compileKernels } from '../../scripts/build-wasm-kernels';
import { useBackend } from '../helpers/backend';

function values(shape: number[], seed: number): Float32Array {
  return Float32Array.from(new Rng(seed).normals(shape.reduce((a, b) => a * b, 1)));
}

function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  return worst;
}

interface ProductCase { a: number[]; b: number[]; transposeA: boolean; transposeB: boolean }

const products: ProductCase[] = [
  { a: [64, 49, 49], b: [64, 49, 32], transposeA: false, transposeB: false }, // attention's weights times values
  { a: [8, 49, 32], b: [8, 49, 32], transposeA: false, transposeB: true },
  { a: [3, 5, 7], b: [3, 5, 9], transposeA: true, transposeB: false },
  { a: [2, 2, 7, 17], b: [2, 2, 33, 17], transposeA: false, transposeB: true }, // rank 4, column tails of 16, 4, 1
  { a: [4, 19, 3], b: [4, 21, 19], transposeA: true, transposeB: true }, // an odd row count
  { a: [5, 1, 1], b: [5, 1, 6], transposeA: false, transposeB: false },
  { a: [6, 4, 3], b: [3, 5], transposeA: false, transposeB: false }, // a broadcast batch: the stock kernel
  { a: [1, 9, 4], b: [1, 4, 3], transposeA: false, transposeB: false }, // one matrix: the stock kernel
];

const product = (c: ProductCase, a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, c.transposeA, c.transposeB);

describe('the SIMD kernel module', () => {
  it('is the one wasm/kernels.ts compiles to', () => {
    expect(readFileSync(BINARY_MODULE, 'utf8'), 'run npm run build:wasm-kernels').toBe(binaryModuleText(compileKernels()));
  });

  it('loads in Node', () => {
    expect(simdKernels()).not.toBeNull();
  });

  it('multiplies a batch by the definition', () => {
    const kernels = simdKernels()!;
    const [batch, M, K, N] = [3, 5, 6, 18];
    const a = values([batch, M, K], 1);
    const b = values([batch, K, N], 2);
    const got = kernels.batchMatMul(a, b, batch, M, K, N, false, false);
    const want = new Float32Array(batch * M * N);
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += a[(n * M + i) * K + k] * b[(n * K + k) * N + j];
          want[(n * M + i) * N + j] = s;
        }
      }
    }
    expect(worstRelative(got, want)).toBeLessThan(1e-5);
  });
});

describe('wasm BatchMatMul over batches', () => {
  it.each(products)('matches the cpu backend: $a x $b, transposed $transposeA / $transposeB', async (c) => {
    const run = () => tf.tidy(() => {
      const a = tf.tensor(values(c.a, 3), c.a);
      const b = tf.tensor(values(c.b, 4), c.b);
      const y = product(c, a, b);
      const r = tf.tensor(values(y.shape, 5), y.shape);
      // tfjs has no gradient for a broadcast batch
      const broadcast = c.a.length !== c.b.length;
      const [da, db] = broadcast ? [a, b] : tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(product(c, p, q), r)))([a, b]);
      return { y: y.dataSync(), shape: y.shape, da: da.dataSync(), db: db.dataSync() };
    });
    await useBackend('cpu');
    const want = run();
    await useBackend('wasm');
    const got = run();
    expect(got.shape).toEqual(want.shape);
    expect(worstRelative(got.y, want.y)).toBeLessThan(1e-5);
    expect(worstRelative(got.da, want.da)).toBeLessThan(1e-5);
    expect(worstRelative(got.db, want.db)).toBeLessThan(1e-5);
  });

  it('has the gradient central differences give', async () => {
    await useBackend('wasm');
    const c = products[1];
    const a = values(c.a, 6);
    const b = values(c.b, 7);
    const r = values([8, 49, 49], 8);
    const loss = (av: Float32Array) => tf.tidy(() => tf.sum(tf.mul(product(c, tf.tensor(av, c.a), tf.tensor(b, c.b)), tf.tensor(r, [8, 49, 49]))).dataSync()[0]);
    const grad = tf.tidy(() => tf.grad((p: tf.Tensor) => tf.sum(tf.mul(product(c, p, tf.tensor(b, c.b)), tf.tensor(r, [8, 49, 49]))))(tf.tensor(a, c.a)).dataSync());
    const rng = new Rng(9);
    for (let probe = 0; probe < 12; probe++) {
      const i = rng.int(a.length);
      const eps = 0.5;
      const up = a.slice(); up[i] += eps;
      const down = a.slice(); down[i] -= eps;
      const fd = (loss(up) - loss(down)) / (2 * eps);
      expect(Math.abs(fd - grad[i]), `entry ${i}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(grad[i])));
    }
  });
});

describe('wasm Concat', () => {
  const shapes: [number[][], number][] = [
    [[[4, 3, 3, 16], [4, 3, 3, 32]], 3], // a UNet's skip connection: short runs
    [[[2, 70], [2, 90]], 1], // long runs
    [[[2, 3], [5, 3], [1, 3]], 0],
    [[[2, 0, 3], [2, 4, 3]], 1], // an empty part
    [[[3, 2, 5], [3, 1, 5], [3, 4, 5]], 1],
  ];

  it.each(shapes)('matches the cpu backend: %j along axis %i', async (parts, axis) => {
    const run = (dtype: 'float32' | 'int32' | 'bool') => tf.tidy(() => {
      const tensors = parts.map((shape, k) => tf.tensor(Array.from(values(shape, 10 + k), (v) => (dtype === 'float32' ? v : dtype === 'int32' ? Math.round(3 * v) : v > 0 ? 1 : 0)), shape, dtype));
      const y = tf.concat(tensors, axis);
      return { shape: y.shape, values: Array.from(y.dataSync()) };
    });
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      await useBackend('cpu');
      const want = run(dtype);
      await useBackend('wasm');
      expect(run(dtype), dtype).toEqual(want);
    }
  });

  it('has the gradient the cpu backend gives', async () => {
    const run = () => tf.tidy(() => {
      const a = tf.tensor(values([2, 3, 3, 16], 20), [2, 3, 3, 16]);
      const b = tf.tensor(values([2, 3, 3, 8], 21), [2, 3, 3, 8]);
      const r = tf.tensor(values([2, 3, 3, 24], 22), [2, 3, 3, 24]);
      return tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.concat([p, q], 3)), r)))([a, b]).map((g) => Array.from(g.dataSync()));
    });
    await useBackend('cpu');
    const want = run();
    await useBackend('wasm');
    const got = run();
    got.forEach((g, k) => expect(worstRelative(g, want[k])).toBeLessThan(1e-5));
  });
});

describe('wasm GroupNorm as one SIMD kernel each way', () => {
  // [B, H, W, C, groups]: EDM's 4 channels a group, 8, one group, a single vector of channels, and one that does not
  // fit the kernel (channels not in fours), which keeps the composed GroupNorm
  const shapes: [number, number, number, number, number][] = [[2, 5, 4, 16, 4], [3, 3, 3, 32, 4], [2, 2, 3, 12, 1], [2, 3, 3, 4, 1], [2, 3, 2, 6, 2]];

  const run = (B: number, H: number, W: number, C: number, G: number) => tf.tidy(() => {
    const x = tf.add(tf.mul(tf.tensor4d(values([B, H, W, C], 30), [B, H, W, C]), 3), 2);
    const w = tf.tensor1d(values([C], 31));
    const b = tf.tensor1d(values([C], 32));
    const r = tf.tensor4d(values([B, H, W, C], 33), [B, H, W, C]);
    const norm = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => groupNorm(new Map([['n.weight', ww], ['n.bias', bb]]), 'n', xx as tf.Tensor4D, G);
    const y = norm(x, w, b);
    const grads = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(norm(xx, ww, bb), r)))([x, w, b]);
    return [y, ...grads].map((t) => Array.from(t.dataSync()));
  });

  it.each(shapes)('matches the composed GroupNorm on cpu: [%i, %i, %i, %i], %i groups', async (B, H, W, C, G) => {
    await useBackend('cpu');
    const want = run(B, H, W, C, G);
    await useBackend('wasm');
    const kernel = vi.spyOn(SimdKernels.prototype, 'groupNorm');
    const gradient = vi.spyOn(SimdKernels.prototype, 'groupNormGrad');
    try {
      const got = run(B, H, W, C, G);
      ['y', 'dx', 'dw', 'db'].forEach((what, k) => expect(worstRelative(got[k], want[k]), what).toBeLessThan(2e-5));
      // twice forward (the value, then again under tf.grads), once backward; never for channels not in fours
      expect(kernel.mock.calls.length).toBe(C % 4 === 0 ? 2 : 0);
      expect(gradient.mock.calls.length).toBe(C % 4 === 0 ? 1 : 0);
    } finally {
      kernel.mockRestore();
      gradient.mockRestore();
    }
  });

  it('has the gradient central differences give, and leaves no tensor behind', async () => {
    await useBackend('wasm');
    const [B, H, W, C, G] = [2, 4, 3, 8, 2];
    const xv = values([B, H, W, C], 40);
    const wv = values([C], 41);
    const bv = values([C], 42);
    const r = values([B, H, W, C], 43);
    const loss = (x: Float32Array, w: Float32Array) => tf.tidy(() => tf.sum(tf.mul(tf.square(groupNorm(
      new Map([['n.weight', tf.tensor1d(w)], ['n.bias', tf.tensor1d(bv)]]), 'n', tf.tensor4d(x, [B, H, W, C]), G)), tf.tensor(r, [B, H, W, C]))).dataSync()[0]);
    const before = tf.memory().numTensors;
    const [dx, dw] = tf.tidy(() => tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.square(groupNorm(
      new Map([['n.weight', w], ['n.bias', tf.tensor1d(bv)]]), 'n', x as tf.Tensor4D, G)), tf.tensor(r, [B, H, W, C]))))([tf.tensor4d(xv, [B, H, W, C]), tf.tensor1d(wv)]).map((g) => g.dataSync()));
    expect(tf.memory().numTensors).toBe(before);
    const rng = new Rng(44);
    const eps = 1e-2;
    for (let probe = 0; probe < 10; probe++) {
      const i = rng.int(xv.length);
      const up = xv.slice(); up[i] += eps;
      const down = xv.slice(); down[i] -= eps;
      expect(Math.abs((loss(up, wv) - loss(down, wv)) / (2 * eps) - dx[i]), `dx[${i}]`).toBeLessThan(5e-3 * Math.max(1, Math.abs(dx[i])));
    }
    for (let i = 0; i < C; i++) {
      const up = wv.slice(); up[i] += eps;
      const down = wv.slice(); down[i] -= eps;
      expect(Math.abs((loss(xv, up) - loss(xv, down)) / (2 * eps) - dw[i]), `dw[${i}]`).toBeLessThan(5e-3 * Math.max(1, Math.abs(dw[i])));
    }
  });
});

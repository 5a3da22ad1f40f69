/**
 * The project's wasm kernels (src/core/kernels/: convolution filter gradient, batched product, GroupNorm, Concat,
 * SplitV) in a browser page, bundled by e2e/wasm-kernels.spec.ts: each against
 * the cpu backend on the same inputs, and the convolution filter gradient and a batched product against central
 * differences (exact up to rounding: both are linear in the entry moved). Node runs the same comparisons in
 * test/core/wasm-kernels.test.ts and simd-kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { startBackend } from '../../src/core/backend';
import { SimdKernels, simdKernels } from '../../src/core/kernels/simd-module';
import { groupNorm } from '../../src/core/nets/layers';
import { Rng } from '../../src/core/rng';

const values = (shape: number[], seed: number) => Float32Array.from(new Rng(seed).normals(shape.reduce((a, b) => a * b, 1)));

/** Every quantity the checks compare, computed on the current backend from fixed inputs. */
function compute() {
  return tf.tidy(() => {
    const x = tf.tensor4d(values([2, 7, 6, 5], 1), [2, 7, 6, 5]);
    const w = tf.tensor4d(values([3, 3, 5, 32], 2), [3, 3, 5, 32]);
    const dy = tf.tensor4d(values([2, 7, 6, 32], 3), [2, 7, 6, 32]);
    const filter = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 5, 32] }) as tf.Tensor;
    const input = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: [2, 7, 6, 5] }) as tf.Tensor;
    const a = tf.tensor3d(values([6, 9, 17], 4), [6, 9, 17]);
    const b = tf.tensor3d(values([6, 19, 17], 5), [6, 19, 17]);
    const product = tf.matMul(a, b, false, true);
    const parts = [tf.tensor4d(values([2, 3, 3, 16], 6), [2, 3, 3, 16]), tf.tensor4d(values([2, 3, 3, 32], 7), [2, 3, 3, 32])];
    const joined = tf.concat(parts, 3);
    const split = tf.split(joined, [40, 8], 3);
    const gx = tf.tensor4d(values([2, 4, 3, 16], 8), [2, 4, 3, 16]);
    const gr = tf.tensor4d(values([2, 4, 3, 16], 9), [2, 4, 3, 16]);
    const norm = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => groupNorm(new Map([['n.weight', ww], ['n.bias', bb]]), 'n', xx as tf.Tensor4D, 4);
    const gw = tf.tensor1d(values([16], 10));
    const gb = tf.tensor1d(values([16], 11));
    const normed = [norm(gx, gw, gb), ...tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(norm(xx, ww, bb), gr)))([gx, gw, gb])];
    const read = (t: tf.Tensor) => Array.from(t.dataSync());
    return { filter: read(filter), input: read(input), product: read(product), joined: read(joined), split: split.map(read), groupNorm: normed.map(read) };
  });
}

/** Central differences of sum(conv2d(x, w) r) in 8 filter entries against the filter gradient kernel. */
function filterDifferences(): { worst: number; nonzero: number } {
  const xv = values([2, 7, 6, 5], 1);
  const wv = values([3, 3, 5, 32], 2);
  const r = values([2, 7, 6, 32], 3);
  const loss = (w: Float32Array) => tf.tidy(() => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(xv, [2, 7, 6, 5]), tf.tensor4d(w, [3, 3, 5, 32]), 1, 'same'), tf.tensor(r, [2, 7, 6, 32]))).dataSync()[0]);
  const grad = tf.tidy(() => (tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(xv, [2, 7, 6, 5]), dy: tf.tensor4d(r, [2, 7, 6, 32]) },
    { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 5, 32] }) as tf.Tensor).dataSync());
  const rng = new Rng(11);
  let worst = 0;
  let nonzero = 0;
  for (let probe = 0; probe < 8; probe++) {
    const i = rng.int(wv.length);
    const up = wv.slice(); up[i] += 0.5;
    const down = wv.slice(); down[i] -= 0.5;
    const fd = loss(up) - loss(down);
    worst = Math.max(worst, Math.abs(fd - grad[i]) / Math.max(1, Math.abs(grad[i])));
    if (Math.abs(grad[i]) > 1e-3) nonzero++;
  }
  return { worst, nonzero };
}

const worstRelative = (got: number[], want: number[]) => got.length !== want.length ? Infinity
  : got.reduce((m, g, i) => Math.max(m, Math.abs(g - want[i]) / Math.max(1, Math.abs(want[i]))), 0);

async function runChecks(wasmPrefix: string) {
  await startBackend('cpu');
  const want = compute();
  const binaries = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
  await startBackend('wasm', { wasmPaths: Object.fromEntries(binaries.map((name) => [name, `${wasmPrefix}${name}`])) });
  const simd = simdKernels() !== null;
  let simdCalls = 0;
  const original = SimdKernels.prototype.convFilterGrad;
  const originalNorm = SimdKernels.prototype.groupNormGrad;
  SimdKernels.prototype.convFilterGrad = function (...args) { simdCalls++; return original.apply(this, args); };
  SimdKernels.prototype.groupNormGrad = function (...args) { simdCalls++; return originalNorm.apply(this, args); };
  const got = compute();
  SimdKernels.prototype.convFilterGrad = original;
  SimdKernels.prototype.groupNormGrad = originalNorm;
  return {
    backend: tf.getBackend(), simd, simdCalls,
    filter: worstRelative(got.filter, want.filter), input: worstRelative(got.input, want.input),
    product: worstRelative(got.product, want.product), joined: worstRelative(got.joined, want.joined),
    split: Math.max(...got.split.map((s, i) => worstRelative(s, want.split[i]))),
    groupNorm: Math.max(...got.groupNorm.map((s, i) => worstRelative(s, want.groupNorm[i]))),
    differences: filterDifferences(),
  };
}

(globalThis as { runChecks?: typeof runChecks }).runChecks = runChecks;

/**
 * Linear and Conv2d shaped for webgpu, where a step's fixed cost is its count of dispatches (one per program; about
 * 100 us each on a real GPU whatever the work) and a Reshape is free. nets/layers.ts takes them on webgpu:
 *   Linear:  y = x W^T + b as one fused product (transposed operand and bias inside: one dispatch, where an explicit
 *            transpose, a product and an add take three); dx = dy W, dW = dy^T x (the transpose inside the
 *            product), db = the column sums of dy (kernels/webgpu-column-sum.ts).
 *   Conv2d:  the fused convolution with its bias, on the weight transposed to HWIO; backward dx by the backend's
 *            tiled Conv2DBackpropInput, dW split over the pixels and in PyTorch's layout
 *            (kernels/webgpu-conv-filter-grad.ts), db the column sums of dy (tfjs's own bias gradient is a Transpose
 *            and a reduction). A network that does not train (a teacher) keeps its HWIO filters
 *            (`keepFrozenFilters`), so its forward pass transposes nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { columnSum, fusedWebGpuColumnSum } from '../kernels/webgpu-column-sum';
import { CONV_FILTER_GRAD, fusedWebGpuConvFilterGrad } from '../kernels/webgpu-conv-filter-grad';
import type { Params } from './params';

/** Whether these layers are taken: on webgpu, with the project's programs registered (backend.ts). */
export const webgpuLayersOn = (): boolean => fusedWebGpuColumnSum(tf.getBackend()) && fusedWebGpuConvFilterGrad(tf.getBackend());

/** HWIO filters of frozen weights [out, in, kh, kw], kept while their network lives. */
const frozenFilters = new WeakMap<tf.Tensor, tf.Tensor4D>();

const toHwio = (weight: tf.Tensor): tf.Tensor4D => tf.transpose(weight, [2, 3, 1, 0]) as tf.Tensor4D;

/** Keeps the HWIO filter of every conv weight (4-D, kernel larger than 1x1) among `names` of `params`. */
export function keepFrozenFilters(params: Params, names: Iterable<string>): void {
  for (const name of names) {
    const w = params.get(name);
    if (!w || w instanceof tf.Variable || w.rank !== 4 || w.shape[2]! * w.shape[3]! === 1 || frozenFilters.has(w)) continue;
    frozenFilters.set(w, tf.keep(tf.tidy(() => toHwio(w))));
  }
}

/** Bytes of the HWIO filters kept for `params` (memory a frozen network holds beyond its weights; 0 off webgpu). */
export function frozenFilterBytes(params: Params): number {
  let bytes = 0;
  for (const w of params.values()) bytes += 4 * (frozenFilters.get(w)?.size ?? 0);
  return bytes;
}

/** Frees the HWIO filters kept for `params`. */
export function releaseFrozenFilters(params: Params): void {
  for (const w of params.values()) {
    const f = frozenFilters.get(w);
    if (f) {
      f.dispose();
      frozenFilters.delete(w);
    }
  }
}

/** y = x W^T + b for x [N, in], W [out, in], b [out]. */
export const webgpuLinear = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x, b: w, transposeB: true, bias: b }),
    gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor[]) => [
      tf.matMul(dy, ws as tf.Tensor2D), tf.matMul(dy, xs as tf.Tensor2D, true, false), columnSum(dy),
    ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

const CONV = { strides: 1, pad: 'same', dataFormat: 'NHWC' } as const;

/** 'same' Conv2d, stride 1, of x [B, H, W, in] with weight [out, in, kh, kw] and bias [out]. */
export const webgpuConv2d = tf.customGrad(((x: tf.Tensor4D, weight: tf.Tensor4D, bias: tf.Tensor1D, save: tf.GradSaveFunc) => {
  const filter = frozenFilters.get(weight) ?? toHwio(weight);
  save([x, filter]);
  return {
    value: tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias }),
    gradFunc: (dy: tf.Tensor4D, [xs, fs]: tf.Tensor[]) => {
      const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: fs }, { ...CONV, inputShape: xs.shape });
      const dWeight = tf.engine().runKernel(CONV_FILTER_GRAD, { x: xs, dy }, { kh: fs.shape[0]!, kw: fs.shape[1]! }) as tf.Tensor4D;
      return [dx as tf.Tensor, dWeight, columnSum(dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor4D, weight: tf.Tensor, bias: tf.Tensor) => tf.Tensor4D;

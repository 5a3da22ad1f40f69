/**
 * EDM's resample_filter buffers that hold its [1, 1] filter (f f^T / (sum f)^2: every entry 1/4). Resampling with
 * it is exactly 2x2 average pooling down and nearest 2x upsampling up, one or two kernels each way where the
 * general separable filter takes about twenty (nets/layers.ts). Known from the buffer's values when a Network is
 * made, so the forward pass never reads a tensor back.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { HostTensor, Params } from './params';

const boxFilters = new WeakSet<tf.Tensor>();

/** Marks the tensors of `params` whose host values are a 2x2 resample_filter of quarters. */
export function markBoxFilters(params: Params, host: Map<string, HostTensor>): void {
  for (const [name, t] of host) {
    if (!name.endsWith('resample_filter') || t.shape.join(',') !== '1,1,2,2' || !t.data.every((v) => v === 0.25)) continue;
    const tensor = params.get(name);
    if (tensor) boxFilters.add(tensor);
  }
}

export const isBoxFilter = (filter: tf.Tensor): boolean => boxFilters.has(filter);

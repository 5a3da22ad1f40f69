/** Test weights for imported networks: every tensor random on a trained network's scale, so every path is exercised. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { type LearnedNetworkSpec, type Network, bufferNames, initParams } from '../../src/core/nets';
import type { HostTensor } from '../../src/core/nets/params';
import { Rng } from '../../src/core/rng';

/** std 1/sqrt(fan_in) for weights, GroupNorm scales near 1, 0.2 for the rest; buffers keep their values. */
export function randomHost(spec: LearnedNetworkSpec, shape: number[], seed: number): Map<string, HostTensor> {
  const host = initParams(spec, shape, new Rng(seed));
  const fixed = new Set(bufferNames(spec, shape));
  const rng = new Rng(seed + 1);
  for (const [name, t] of host) {
    if (fixed.has(name)) continue;
    const fanIn = t.shape.length > 1 ? t.shape.slice(1).reduce((a, b) => a * b, 1) : 0;
    const norm = /norm\d?\.weight$|_norm\.weight$|norm_out\.weight$/.test(name);
    for (let i = 0; i < t.data.length; i++) {
      t.data[i] = norm ? 1 + 0.2 * rng.normal() : fanIn ? rng.normal() / Math.sqrt(fanIn) : 0.2 * rng.normal();
    }
  }
  return host;
}

/** NHWC -> NCHW of host data. */
export function toNchw(data: Float32Array, [b, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let n = 0; n < b; n++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
    out[((n * c + k) * h + y) * w + x] = data[((n * h + y) * w + x) * c + k];
  }
  return out;
}

/** A forward pass with its gradient, repeated, leaves tf.memory().numTensors where it was. */
export function expectNoLeak(net: Network, x: tf.Tensor, c: tf.Tensor1D, labels?: tf.Tensor2D): void {
  const trainable = [...net.params.values()].filter((v) => (v as tf.Variable).trainable) as tf.Variable[];
  const step = () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(net.apply(x, c, labels))) as tf.Scalar, trainable);
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  step();
  step();
  expect(tf.memory().numTensors).toBe(before);
}

/** One HWC sample as nested NCHW lists, as the Python references take it. */
export function nestedNchw(hwc: ArrayLike<number>, [h, w, c]: number[]): number[][][] {
  return Array.from({ length: c }, (_, k) => Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => hwc[(y * w + x) * c + k])));
}

/** Per sample: the largest |ours - torch| and the largest |torch|, ours HWC rows [n, h, w, c], torch nested NCHW. */
export function worstPerSample(ours: ArrayLike<number>, torch: number[][][][], [h, w, c]: number[]): { diff: number; scale: number }[] {
  const size = h * w * c;
  return torch.map((sample, i) => {
    let diff = 0;
    let scale = 0;
    for (let k = 0; k < size; k++) {
      const t = sample[k % c][Math.floor(k / (w * c))][Math.floor(k / c) % w];
      diff = Math.max(diff, Math.abs(ours[i * size + k] - t));
      scale = Math.max(scale, Math.abs(t));
    }
    return { diff, scale };
  });
}

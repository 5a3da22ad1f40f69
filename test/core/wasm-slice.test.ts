/**
 * The wasm backend's in-place Slice and SplitV (src/core/kernels/wasm-slice.ts) against the cpu backend: every rank
 * up to 5, contiguous and strided blocks, splits along every axis, float32, int32 and bool; and slice's gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { describe, expect, it } from 'vitest';
import { copyBlock } from '../../src/core/kernels/wasm-slice';
import { Rng } from '../../src/core/rng';
import { useBackend } from '../helpers/backend';

interface SliceCase { shape: number[]; begin: number[]; size: number[] }

/** Random blocks of random shapes, drawn once: the same cases on both backends. */
function cases(): SliceCase[] {
  const rng = new Rng(5);
  const out: SliceCase[] = [];
  for (let i = 0; i < 60; i++) {
    const rank = 1 + (i % 5);
    const shape = Array.from({ length: rank }, () => 1 + rng.int(5));
    const begin = shape.map((d) => rng.int(d));
    const size = shape.map((d, k) => (rng.int(3) === 0 ? d - begin[k] : 1 + rng.int(d - begin[k])));
    out.push({ shape, begin, size });
  }
  return out;
}

type Dtype = 'float32' | 'int32' | 'bool';

function run(backend: 'cpu' | 'wasm', dtype: Dtype): { slices: number[][]; splits: number[][]; grads: number[][] } {
  const made = cases();
  return tf.tidy(() => {
    const make = (shape: number[]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? (i * 7) % 3 === 0 ? 1 : 0 : dtype === 'int32' ? i - 5 : i * 0.37 - 1));
      return tf.tensor(values, shape, dtype);
    };
    const slices = made.map((c) => Array.from(tf.slice(make(c.shape), c.begin, c.size).dataSync()));
    const splits: number[][] = [];
    for (const c of made) {
      for (let axis = 0; axis < c.shape.length; axis++) {
        const d = c.shape[axis];
        const sizes = d === 1 ? [1] : [1, d - 1];
        for (const part of tf.split(make(c.shape), sizes, axis)) splits.push(Array.from(part.dataSync()));
      }
    }
    const grads = dtype === 'float32'
      ? made.slice(0, 10).map((c) => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.slice(x, c.begin, c.size), 3)))(make(c.shape)).dataSync()))
      : [];
    expect(tf.getBackend()).toBe(backend);
    return { slices, splits, grads };
  });
}

describe('wasm Slice and SplitV in place', () => {
  it('copy a block by runs as a plain loop does', () => {
    const shape = [2, 3, 4];
    const x = Float32Array.from({ length: 24 }, (_, i) => i);
    const out = new Float32Array(2 * 2 * 4);
    copyBlock(x, shape, [0, 1, 0], [2, 2, 4], out);
    expect(Array.from(out)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23]);
    const part = new Float32Array(6);
    copyBlock(x, shape, [1, 0, 1], [1, 3, 2], part);
    expect(Array.from(part)).toEqual([13, 14, 17, 18, 21, 22]);
  });

  for (const dtype of ['float32', 'int32', 'bool'] as Dtype[]) {
    it(`equal the cpu backend (${dtype})`, async () => {
      await useBackend('cpu');
      const expected = run('cpu', dtype);
      await useBackend('wasm');
      const tensors = tf.memory().numTensors;
      const got = run('wasm', dtype);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(got.slices).toEqual(expected.slices);
      expect(got.splits).toEqual(expected.splits);
      expect(got.grads).toEqual(expected.grads);
      expect(got.splits.length).toBeGreaterThan(100);
    });
  }
});

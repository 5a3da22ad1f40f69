/**
 * EDM's [1, 1] resample filter taken as 2x2 average pooling and nearest upsampling (src/core/nets/box-filter.ts):
 * only buffers of quarters are marked, and through a marked buffer resampleDown / resampleUp give the separable
 * filter's values and gradients (the general path, on an unmarked copy of the same buffer).
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import '../../src/core/gradients';
import { isBoxFilter, markBoxFilters } from '../../src/core/nets/box-filter';
import { resampleDown, resampleUp } from '../../src/core/nets/layers';
import type { HostTensor, Params } from '../../src/core/nets/params';
import { resampleFilterBuffer } from '../../src/core/nets/edm-songunet';
import { Rng } from '../../src/core/rng';
import { useBackend } from '../helpers/backend';

const buffer = (f: number[]): HostTensor => ({ shape: [1, 1, f.length, f.length], data: resampleFilterBuffer(f) });

function marked(host: Map<string, HostTensor>): Params {
  const params: Params = new Map([...host].map(([name, t]) => [name, tf.tensor(t.data, t.shape)]));
  markBoxFilters(params, host);
  return params;
}

describe('the [1, 1] resample filter as pooling and nearest upsampling', () => {
  useBackend('cpu');

  it('marks the buffers of [1, 1] and no others', () => {
    const params = marked(new Map([
      ['a.resample_filter', buffer([1, 1])],
      ['b.resample_filter', buffer([1, 3, 3, 1])],
      ['c.resample_filter', buffer([1, 2])], // 2x2, not quarters
      ['d.weight', { shape: [1, 1, 2, 2], data: new Float32Array(4).fill(0.25) }], // quarters, not a resample_filter
    ]));
    expect(['a', 'b', 'c', 'd'].map((k) => isBoxFilter([...params].find(([n]) => n.startsWith(k))![1]))).toEqual([true, false, false, false]);
    tf.dispose([...params.values()]);
  });

  for (const [name, f] of [['down', resampleDown], ['up', resampleUp]] as const) {
    it(`${name}: the same values and input gradient as the separable filter`, () => {
      const host = buffer([1, 1]);
      const box = marked(new Map([['x.resample_filter', host]])).get('x.resample_filter')!;
      const general = tf.tensor(host.data, host.shape);
      expect(isBoxFilter(box) && !isBoxFilter(general)).toBe(true);
      const x = tf.tensor4d(new Rng(5).normals(2 * 6 * 4 * 3, 1), [2, 6, 4, 3]);
      const run = (filter: tf.Tensor) => {
        const y = f(x, filter);
        const r = tf.tensor(new Rng(6).normals(y.size, 1), y.shape); // the loss is sum(y r)
        const dx = tf.grad((xs: tf.Tensor) => tf.sum(tf.mul(f(xs as tf.Tensor4D, filter), r)) as tf.Scalar)(x);
        r.dispose();
        return [y, dx];
      };
      const maxDiff = (a: tf.Tensor, b: tf.Tensor) => Math.max(...Array.from(tf.tidy(() => tf.abs(tf.sub(a, b))).dataSync()));
      const [yBox, dxBox] = run(box);
      const [yGen, dxGen] = run(general);
      expect(yBox.shape).toEqual(name === 'down' ? [2, 3, 2, 3] : [2, 12, 8, 3]);
      expect(yGen.shape).toEqual(yBox.shape);
      expect(maxDiff(yBox, yGen)).toBeLessThan(1e-6);
      expect(maxDiff(dxBox, dxGen)).toBeLessThan(1e-6);
      tf.dispose([box, general, x, yBox, dxBox, yGen, dxGen]);
    });
  }
});

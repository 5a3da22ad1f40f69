import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { cosSinFeatures, groupNorm, groupNormSilu, linear, residualAdd, silu } from '../../src/core/nets/layers';
import { Rng } from '../../src/core/rng';
import { useBackend } from '../helpers/backend';

const normal = (shape: number[], seed: number, std = 1) => tf.tensor(new Rng(seed).normals(shape.reduce((a, b) => a * b, 1), std), shape);

/** Max |a - b| over max |b|, for tensors of one shape. */
function relDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / Math.max(1e-12, tf.max(tf.abs(b)).dataSync()[0]));
}

/** Gradients of sum(w * f(inputs)) with respect to every input, for a fixed random w. */
function grads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], w: tf.Tensor): tf.Tensor[] {
  return tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), w)))(inputs);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`fused layers on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('silu equals x sigmoid(x), forward and gradient', () => {
      tf.tidy(() => {
        const x = normal([7, 5], 1, 3);
        const w = normal([7, 5], 2);
        expect(relDiff(silu(x), tf.mul(x, tf.sigmoid(x)))).toBeLessThan(1e-6);
        expect(relDiff(grads(silu, [x], w)[0], grads((t) => tf.mul(t, tf.sigmoid(t)), [x], w)[0])).toBeLessThan(1e-5);
      });
    });

    it('linear equals x W^T + b with the weight a variable or not, forward and gradients', () => {
      const wv = tf.variable(normal([4, 3], 3), true, `fused_w_${backend}`);
      tf.tidy(() => {
        const x = normal([6, 3], 4);
        const b = normal([4], 5);
        const dy = normal([6, 4], 6);
        const ref = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.add(tf.matMul(xx, ww, false, true), bb);
        for (const w of [wv, tf.mul(wv, 1)]) {
          const fused = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => linear(new Map([['l.weight', ww], ['l.bias', bb]]), 'l', xx as tf.Tensor2D);
          expect(relDiff(fused(x, w, b), ref(x, w, b))).toBeLessThan(1e-6);
          const got = grads(fused, [x, w, b], dy);
          const want = grads(ref, [x, w, b], dy);
          got.forEach((g, i) => expect(relDiff(g, want[i])).toBeLessThan(1e-5));
        }
      });
      wv.dispose();
    });

    it('residualAdd passes the gradient to both inputs and names a shape mismatch', () => {
      tf.tidy(() => {
        const [a, b, w] = [normal([3, 4], 7), normal([3, 4], 8), normal([3, 4], 9)];
        const got = grads((x, y) => tf.mul(residualAdd(x, y), x), [a, b], w);
        const want = grads((x, y) => tf.mul(tf.add(x, y), x), [a, b], w);
        got.forEach((g, i) => expect(relDiff(g, want[i])).toBeLessThan(1e-6));
        expect(() => residualAdd(a, normal([4], 1))).toThrow('residualAdd: shapes [3,4] and [4] differ');
      });
    });

    it('cosSinFeatures equals [cos(c f) | sin(c f)], with the gradient of autodiff in c and f', () => {
      tf.tidy(() => {
        const c = normal([5], 10) as tf.Tensor1D;
        const f = normal([1, 3], 11) as tf.Tensor2D;
        const w = normal([5, 6], 12);
        const ref = (cc: tf.Tensor, ff: tf.Tensor) => {
          const args = tf.mul(tf.expandDims(cc, 1), ff);
          return tf.concat([tf.cos(args), tf.sin(args)], 1);
        };
        expect(relDiff(cosSinFeatures(c, f), ref(c, f))).toBeLessThan(1e-6);
        const got = grads((cc, ff) => cosSinFeatures(cc as tf.Tensor1D, ff as tf.Tensor2D), [c, f], w);
        const want = grads(ref, [c, f], w);
        got.forEach((g, i) => expect(relDiff(g, want[i])).toBeLessThan(1e-5));
      });
    });

    it('groupNorm equals (x - mean_g) / sqrt(var_g + eps) w + b over each group of channels', () => {
      tf.tidy(() => {
        const [B, H, W, C, G] = [2, 3, 4, 6, 3];
        const x = tf.add(normal([B, H, W, C], 13, 2), 0.7) as tf.Tensor4D;
        const params = new Map([['n.weight', normal([C], 14)], ['n.bias', normal([C], 15)]]);
        const xg = tf.reshape(x, [B, H * W, G, C / G]);
        const { mean, variance } = tf.moments(xg, [1, 3], true);
        const want = tf.add(tf.mul(tf.reshape(tf.div(tf.sub(xg, mean), tf.sqrt(tf.add(variance, 1e-5))), [B, H, W, C]), params.get('n.weight')!), params.get('n.bias')!);
        expect(relDiff(groupNorm(params, 'n', x, G), want)).toBeLessThan(2e-6);
      });
    });

    it('groupNormSilu composes silu, scale and shift after or an add before, as the networks did before #22', () => {
      tf.tidy(() => {
        const [B, H, W, C, G] = [2, 3, 4, 6, 3];
        const x = normal([B, H, W, C], 16) as tf.Tensor4D;
        const params = new Map([['n.weight', normal([C], 17)], ['n.bias', normal([C], 18)]]);
        const scaleShift = normal([B, 1, 1, 2 * C], 19);
        const add = normal([B, 1, 1, C], 20);
        const [scale, shift] = tf.split(scaleShift, 2, 3);
        const r = normal([B, H, W, C], 21);
        const f = (xs: tf.Tensor, ss: tf.Tensor, p: tf.Tensor) => [
          groupNormSilu(params, 'n', xs as tf.Tensor4D, G),
          groupNormSilu(params, 'n', xs as tf.Tensor4D, G, 1e-5, { scaleShift: ss }),
          groupNormSilu(params, 'n', xs as tf.Tensor4D, G, 1e-5, { add: p }),
        ];
        const [plain, adaptive, added] = f(x, scaleShift, add);
        expect(tf.equal(plain, silu(groupNorm(params, 'n', x, G))).all().dataSync()[0]).toBe(1);
        expect(tf.equal(adaptive, silu(tf.add(tf.mul(groupNorm(params, 'n', x, G), tf.add(scale, 1)), shift))).all().dataSync()[0]).toBe(1);
        expect(tf.equal(added, silu(groupNorm(params, 'n', tf.add(x, add) as tf.Tensor4D, G))).all().dataSync()[0]).toBe(1);
        const [dss, dp] = grads((ss, p) => tf.add(f(x, ss, p)[1], f(x, ss, p)[2]), [scaleShift, add], r);
        expect(dss.shape).toEqual([B, 1, 1, 2 * C]);
        expect(dp.shape).toEqual([B, 1, 1, C]);
        expect(() => groupNormSilu(params, 'n', x, G, 1e-5, { add, scaleShift })).toThrow(/not both/);
      });
    });
  });
}

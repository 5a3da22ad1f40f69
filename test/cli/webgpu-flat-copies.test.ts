/**
 * The optimiser's flat vector on webgpu as buffer copies (src/core/kernels/webgpu-flat-copies.ts) through Dawn in
 * Node: flatConcat and flatSplit give exactly the values laid end to end and cut back (with an empty tensor among
 * them), record copies and no compute dispatch, survive their inputs being disposed before the GPU has run, and
 * leave no tensor behind; the optimiser's update through them equals the one on cpu. Fails without an adapter
 * unless PID_SKIP_WEBGPU_NODE=1, as webgpu-node.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { flatConcat, flatSplit } from '../../src/core/kernels/flat';
import { Rng } from '../../src/core/rng';
import { skipWebGpu, useNodeWebGpu } from '../helpers/webgpu';
import { countDispatches } from '../../bench/kernel-count';


const SHAPES: number[][] = [[3, 4], [5], [0], [2, 3, 1, 1], [1], [7, 9, 3, 3], [129]];
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe.skipIf(skipWebGpu)('the flat vector as buffer copies on webgpu (Dawn, Vulkan)', () => {
  useNodeWebGpu();

  it('lays tensors end to end and cuts them back exactly, in copies and no dispatch', async () => {
    await startBackend('webgpu');
    const before = tf.memory().numTensors;
    const rng = new Rng(3);
    const host = SHAPES.map((s) => Float32Array.from(rng.normals(size(s), 1)));
    const parts = SHAPES.map((s, i) => tf.tensor(host[i], s));
    await Promise.all(parts.map((p) => p.data())); // on the GPU before the copies are counted
    const concat = await countDispatches(async () => {
      const flat = flatConcat(parts);
      tf.dispose(parts); // freed before the copies have run: their buffers must wait for the submit
      return flat;
    });
    expect(concat.dispatches).toBe(0);
    expect(concat.copies).toBe(SHAPES.filter((s) => size(s) > 0).length);
    const flat = concat.result;
    const want = new Float32Array(host.reduce((n, h) => n + h.length, 0));
    host.reduce((offset, h) => (want.set(h, offset), offset + h.length), 0);
    expect(Array.from(await flat.data())).toEqual(Array.from(want));

    const split = await countDispatches(async () => {
      const back = flatSplit(flat, SHAPES);
      flat.dispose();
      return back;
    });
    expect(split.dispatches).toBe(0);
    expect(split.copies).toBe(SHAPES.filter((s) => size(s) > 0).length);
    for (let i = 0; i < SHAPES.length; i++) {
      expect(split.result[i].shape).toEqual(SHAPES[i]);
      expect(Array.from(await split.result[i].data())).toEqual(Array.from(host[i]));
    }
    tf.dispose(split.result);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reads a flat vector whose values are still on the host (uploaded first), and int32 vectors', async () => {
    await startBackend('webgpu');
    const flat = tf.tensor1d([1, 2, 3, 4, 5, 6]);
    const [a, b] = flatSplit(flat, [[2, 2], [2]]);
    expect(Array.from(await a.data())).toEqual([1, 2, 3, 4]);
    expect(Array.from(await b.data())).toEqual([5, 6]);
    const ints = flatConcat([tf.tensor1d([7, -8], 'int32'), tf.tensor2d([[9], [10]], [2, 1], 'int32')]);
    expect(ints.dtype).toBe('int32');
    expect(Array.from(await ints.data())).toEqual([7, -8, 9, 10]);
    tf.dispose([flat, a, b, ints]);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { Network, initParams, parameterCount, paramShapes, tensorProblems } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { useBackend } from '../helpers/backend';
import { centralDifference } from '../helpers/finite-diff';

beforeAll(() => useBackend('cpu'));

const spec = { type: 'mlp' as const, hidden: 8, blocks: 2, emb_dim: 4, emb_max_freq: 4 };

describe('mlp network', () => {
  it('has PyTorch-style names and nn.Linear layouts', () => {
    const shapes = new Map(paramShapes(spec, [2]));
    expect(shapes.get('input.weight')).toEqual([8, 2]);
    expect(shapes.get('map_layer0.weight')).toEqual([8, 4]);
    expect(shapes.get('blocks.1.emb.bias')).toEqual([8]);
    expect(shapes.get('out.weight')).toEqual([2, 8]);
    expect(shapes.size).toBe(2 * (3 + 3 * 2 + 1));
    // map 8*4+8 + 8*8+8, input 8*2+8, blocks 2 * 3 * (64+8), out 2*8+2
    expect(parameterCount(spec, [2])).toBe(40 + 72 + 24 + 432 + 18);
  });

  it('starts at F = 0 and keeps the input shape', () => {
    const net = new Network(spec, [2], initParams(spec, [2], new Rng(0)), false);
    const out = net.apply(tf.randomNormal([5, 2]), tf.tensor1d([0, 1, -1, 0.5, 2]));
    expect(out.shape).toEqual([5, 2]);
    expect(Array.from(out.dataSync()).every((v) => v === 0)).toBe(true);
    net.dispose();
  });

  it('reports missing, misshapen and unexpected tensors', () => {
    const tensors = new Map(paramShapes(spec, [2]).map(([n, s]) => [n, { shape: s }]));
    expect(tensorProblems(spec, [2], tensors)).toEqual([]);
    tensors.delete('out.bias');
    tensors.set('input.weight', { shape: [2, 8] });
    tensors.set('extra', { shape: [1] });
    const problems = tensorProblems(spec, [2], tensors).join('\n');
    expect(problems).toMatch(/missing tensor 'out.bias'/);
    expect(problems).toMatch(/'input.weight' has shape \[2,8\], expected \[8,2\]/);
    expect(problems).toMatch(/unexpected tensor 'extra'/);
  });

  it('backpropagates correctly (central finite differences)', () => {
    const host = initParams(spec, [2], new Rng(1));
    const rng = new Rng(2);
    for (const t of host.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 * rng.normal(); // no zero layers
    const net = new Network(spec, [2], host, true);
    const x = tf.tensor2d(new Rng(3).normals(12), [6, 2]);
    const c = tf.tensor1d([-1.5, -0.5, 0, 0.3, 0.8, 1.1]);
    const f = () => tf.sum(tf.square(net.apply(x, c))) as tf.Scalar;
    const vars = [...net.params.values()] as tf.Variable[];
    const { grads } = tf.variableGrads(f, vars);
    const eps = 1e-2;
    for (const name of ['input.weight', 'blocks.0.fc0.weight', 'blocks.1.emb.bias', 'map_layer0.weight', 'out.bias']) {
      const v = net.params.get(name) as tf.Variable;
      const g = grads[v.name].dataSync();
      for (const i of [0, v.size - 1]) {
        const fd = centralDifference(v, i, eps, f);
        expect(Math.abs(fd - g[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
      }
    }
    net.dispose();
  });
});

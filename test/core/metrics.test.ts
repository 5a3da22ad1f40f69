import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrajectoryReference } from '../../src/core/metrics';
import { Network, initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { pidStudentAtTimes, pidStudentX } from '../../src/core/student';
import { GaussianMixtureDenoiser } from '../../src/core/teachers/gaussian-mixture';
import { useBackend } from '../helpers/backend';

beforeAll(() => useBackend('cpu'));

const edm = { sigma_data: 0.5, sigma_min: 0.002, sigma_max: 80, rho: 7 };

describe('trajectory error', () => {
  it('batches the times into one call without changing x_theta(z, t), and errorOf equals the definition', async () => {
    const spec = { type: 'mlp' as const, hidden: 16, blocks: 1, emb_dim: 8, emb_max_freq: 4 };
    const host = initParams(spec, [2], new Rng(3));
    const rng = new Rng(4);
    for (const t of host.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.3 * rng.normal(); // F != 0
    const net = new Network(spec, [2], host, false);
    const teacher = new GaussianMixtureDenoiser({ weights: [0.5, 0.5], means: [[-0.5, 0], [0.5, 0.2]], stds: [0.1, 0.2] });
    const z = tf.tensor2d(new Rng(1).normals(12, 80), [6, 2]);
    const ref = new TrajectoryReference(teacher, edm, z, 12);
    expect(ref.states).toHaveLength(12);

    const batched = pidStudentAtTimes(net.apply, edm, z, ref.times);
    const oneByOne = tf.stack(ref.times.map((t) => pidStudentX(net.apply, edm, z, tf.fill([6], t) as tf.Tensor1D)));
    expect(batched.shape).toEqual([12, 6, 2]);
    expect(tf.max(tf.abs(tf.sub(batched, oneByOne))).dataSync()[0]).toBeLessThan(1e-5);

    // the definition, time by time, in plain numbers
    const x = oneByOne.arraySync() as number[][][];
    const states = ref.states.map((s) => s.arraySync() as number[][]);
    const mse = x.map((xt, j) => xt.flat().reduce((acc, v, i) => acc + (v - states[j].flat()[i]) ** 2, 0) / 12);
    const endNorm = states[11].flat().reduce((acc, v) => acc + v * v, 0) / 12;
    const got = await ref.errorOf(net.apply);
    expect(got.rmsePath).toBeCloseTo(Math.sqrt(mse.reduce((a, b) => a + b, 0) / 12), 4);
    expect(got.rmseEnd).toBeCloseTo(Math.sqrt(mse[11]), 4);
    expect(got.relEnd).toBeCloseTo(Math.sqrt(mse[11] / endNorm), 4);
    tf.dispose([batched, oneByOne, z]);
    ref.dispose();
    teacher.dispose();
    net.dispose();
  });

  it('bounds the rows of each student call by the data size (2048 28x28 images in one call overran wasm memory)', async () => {
    const zeroTeacher = { denoise: (x: tf.Tensor) => tf.zerosLike(x) };
    const rowsPerCall = async (shape: number[], b: number, steps: number) => {
      const z = tf.randomNormal([b, ...shape]);
      const ref = new TrajectoryReference(zeroTeacher, edm, z, steps);
      const rows: number[] = [];
      const F = (x: tf.Tensor) => {
        rows.push(x.shape[0]);
        return tf.zerosLike(x);
      };
      const before = tf.memory().numTensors;
      const err = await ref.errorOf(F);
      expect(tf.memory().numTensors).toBe(before);
      expect(Number.isFinite(err.rmsePath)).toBe(true);
      ref.dispose();
      z.dispose();
      return rows;
    };
    // 2D points: all 128 times of 256 draws in two calls
    expect(await rowsPerCall([2], 256, 128)).toEqual([16384, 16384]);
    // MNIST 28x28, 64 draws: one time per call
    expect(await rowsPerCall([28, 28, 1], 64, 32)).toEqual(Array(32).fill(64));
    // 14x14, 16 draws (the studio): 10 times per call
    expect(await rowsPerCall([14, 14, 1], 16, 32)).toEqual([160, 160, 160, 32]);
  });
});

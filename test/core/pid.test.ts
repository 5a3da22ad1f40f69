import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Network, initParams } from '../../src/core/nets';
import { PidTrainer, drawGridPairs, pidLoss, pidStudentX, stopGradDenoiser } from '../../src/core/pid';
import { Rng } from '../../src/core/rng';
import { GaussianMixtureDenoiser } from '../../src/core/teachers/gaussian-mixture';
import { useBackend } from '../helpers/backend';
import { centralDifference } from '../helpers/finite-diff';

beforeAll(() => useBackend('cpu'));

const edm = { sigma_data: 0.5, sigma_min: 0.002, sigma_max: 80, rho: 7 };
const spec = { type: 'mlp' as const, hidden: 8, blocks: 1, emb_dim: 4, emb_max_freq: 2 };
const mixture = { weights: [0.5, 0.5], means: [[-0.5, 0.2], [0.4, -0.3]], stds: [0.2, 0.1] };

function randomStudent(seed: number): Network {
  const host = initParams(spec, [2], new Rng(seed));
  const rng = new Rng(seed + 1);
  for (const t of host.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.4 * rng.normal();
  return new Network(spec, [2], host, true);
}

describe('PID student parametrisation', () => {
  it('meets the boundary condition x(z, T) = z for any network', () => {
    const net = randomStudent(1);
    const z = tf.tensor2d(new Rng(2).normals(8, 80), [4, 2]);
    const x = pidStudentX(net.apply, edm, z, tf.fill([4], 80) as tf.Tensor1D);
    expect(Array.from(x.dataSync())).toEqual(Array.from(z.dataSync()));
    net.dispose();
  });
});

describe('grid pairs', () => {
  it("pairs n with n + 1, and the last point with N - 2", () => {
    const [n, nNext] = drawGridPairs(new Rng(0), 5, 2000);
    const seen = new Set<number>();
    n.forEach((ni, i) => {
      seen.add(ni);
      expect(nNext[i]).toBe(ni === 4 ? 3 : ni + 1);
    });
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('PID loss gradient', () => {
  const z = tf.tensor2d(new Rng(3).normals(12, 80), [6, 2]);
  const t = tf.tensor1d([80, 20, 3, 0.6, 0.05, 0.002]);
  const tNext = tf.tensor1d([60, 15, 2.5, 0.5, 0.04, 0.0022]);

  it('treats the teacher as a constant: stop-gradient equals a precomputed target, and differs from the full derivative', () => {
    const net = randomStudent(4);
    const teacher = new GaussianMixtureDenoiser(mixture);
    const vars = [...net.params.values()] as tf.Variable[];
    const stop = tf.variableGrads(() => pidLoss(net.apply, stopGradDenoiser(teacher), edm, 'l2', z, t, tNext), vars);
    const fixedTarget = teacher.denoise(pidStudentX(net.apply, edm, z, t), t);
    const fixed = tf.variableGrads(() => pidLoss(net.apply, () => fixedTarget, edm, 'l2', z, t, tNext), vars);
    const full = tf.variableGrads(() => pidLoss(net.apply, (y, s) => teacher.denoise(y, s), edm, 'l2', z, t, tNext), vars);
    expect(stop.value.dataSync()[0]).toBeCloseTo(fixed.value.dataSync()[0], 6);
    let diffFull = 0;
    for (const v of vars) {
      const a = stop.grads[v.name].dataSync();
      const b = fixed.grads[v.name].dataSync();
      const c = full.grads[v.name].dataSync();
      a.forEach((ai, i) => expect(ai).toBeCloseTo(b[i], 5));
      a.forEach((ai, i) => (diffFull = Math.max(diffFull, Math.abs(ai - c[i]))));
    }
    expect(diffFull).toBeGreaterThan(1e-3);
    net.dispose();
    teacher.dispose();
  });

  for (const loss of ['l2', 'l1', 'pseudo-huber'] as const) {
    it(`matches central finite differences of the fixed-target loss (${loss})`, () => {
      const net = randomStudent(5);
      const teacher = new GaussianMixtureDenoiser(mixture);
      const target = teacher.denoise(pidStudentX(net.apply, edm, z, t), t);
      const f = () => pidLoss(net.apply, () => target, edm, loss, z, t, tNext);
      const v = net.params.get('blocks.0.fc0.weight') as tf.Variable;
      const g = tf.variableGrads(f, [v]).grads[v.name].dataSync();
      const eps = 3e-2; // float32: the loss carries ~1e-6 of rounding noise (y - y' cancels at t ~ T)
      for (const i of [0, 7, 21, 63]) {
        const fd = centralDifference(v, i, eps, f);
        expect(Math.abs(fd - g[i])).toBeLessThan(3e-2 * Math.abs(fd) + 2e-4);
      }
      net.dispose();
      teacher.dispose();
    });
  }
});

describe('PID trainer', () => {
  it('keeps tf.memory() flat: tensors and bytes the same after steps 10, 200 and 1000', async () => {
    const net = new Network(spec, [2], initParams(spec, [2], new Rng(0)), true);
    const teacher = new GaussianMixtureDenoiser(mixture);
    const trainer = new PidTrainer({ teacher, student: net, edm, settings: { N: 250, loss: 'pseudo-huber', optimizer: 'radam', lr: 1e-3, batch: 16, ema: 0.99, seed: 1 } });
    const seen = new Map<number, [number, number]>();
    for (let i = 1; i <= 1000; i++) {
      const m = await trainer.trainStep();
      expect(Number.isFinite(m.loss) && Number.isFinite(m.gradNorm)).toBe(true);
      if (i === 10 || i === 200 || i === 1000) seen.set(i, [tf.memory().numTensors, tf.memory().numBytes]);
    }
    expect(seen.get(200)).toEqual(seen.get(10));
    expect(seen.get(1000)).toEqual(seen.get(10));
    trainer.dispose();
    net.dispose();
    teacher.dispose();
  });

  it('is reproducible from its seed', async () => {
    const losses = async () => {
      const net = new Network(spec, [2], initParams(spec, [2], new Rng(0)), true);
      const teacher = new GaussianMixtureDenoiser(mixture);
      const trainer = new PidTrainer({ teacher, student: net, edm, settings: { N: 50, loss: 'l2', optimizer: 'adam', lr: 1e-3, batch: 8, ema: 0, seed: 9 } });
      const out: number[] = [];
      for (let i = 0; i < 5; i++) out.push((await trainer.trainStep()).loss);
      trainer.dispose();
      net.dispose();
      teacher.dispose();
      return out;
    };
    expect(await losses()).toEqual(await losses());
  });
});

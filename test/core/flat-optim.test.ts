import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { flatConcat, flatSplit } from '../../src/core/kernels/flat';
import { MomentOptimizer, WeightEma } from '../../src/core/optim';
import { Rng } from '../../src/core/rng';
import { TrainState } from '../../src/core/train-state';
import { useBackend } from '../helpers/backend';

const SHAPES: [string, number[]][] = [['a.weight', [3, 4]], ['a.bias', [3]], ['b.weight', [2, 3, 1, 1]], ['c', [5]]];

function makeVariables(seed: number): Map<string, tf.Variable> {
  const rng = new Rng(seed);
  return new Map(SHAPES.map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return [name, tf.variable(tf.tensor(rng.normals(size, 1), shape), true, `flat_${name}_${seed}_${Math.random()}`)];
  }));
}

function randomGrads(rng: Rng): Map<string, tf.Tensor> {
  return new Map(SHAPES.map(([name, shape]) => [name, tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1), 0.5), shape)]));
}

/** The per-tensor update of PyTorch's Adam / RAdam (no weight decay) and the warm-up EMA, in float64 on the host. */
function referenceRun(kind: 'adam' | 'radam', steps: number, lr: number, emaRate: number) {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const vars = makeVariables(1);
  const p = new Map([...vars].map(([k, v]) => [k, Array.from(v.dataSync())]));
  tf.dispose([...vars.values()]);
  const m = new Map([...p].map(([k, v]) => [k, v.map(() => 0)]));
  const v2 = new Map([...p].map(([k, v]) => [k, v.map(() => 0)]));
  const ema = new Map([...p].map(([k, v]) => [k, v.slice()]));
  const rng = new Rng(7);
  const rhoInf = 2 / (1 - b2) - 1;
  for (let t = 1; t <= steps; t++) {
    const g = randomGrads(rng);
    const r = Math.min(emaRate, t / (9 + t));
    for (const [name] of SHAPES) {
      const gs = Array.from(g.get(name)!.dataSync());
      const [pp, mm, vv, ee] = [p.get(name)!, m.get(name)!, v2.get(name)!, ema.get(name)!];
      for (let i = 0; i < pp.length; i++) {
        mm[i] = b1 * mm[i] + (1 - b1) * gs[i];
        vv[i] = b2 * vv[i] + (1 - b2) * gs[i] * gs[i];
        const mHat = mm[i] / (1 - b1 ** t);
        if (kind === 'adam') pp[i] -= (lr * mHat) / (Math.sqrt(vv[i] / (1 - b2 ** t)) + eps);
        else {
          const rhoT = rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t);
          if (rhoT > 5) {
            const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
            pp[i] -= lr * mHat * rect * (Math.sqrt(1 - b2 ** t) / (Math.sqrt(vv[i]) + eps));
          } else pp[i] -= lr * mHat;
        }
        ee[i] = r * ee[i] + (1 - r) * pp[i];
      }
    }
    tf.dispose([...g.values()]);
  }
  return { p, m, v: v2, ema };
}

function expectClose(got: ArrayLike<number>, want: number[], rel: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(rel * Math.max(1e-3, Math.abs(want[i])));
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`flat optimiser on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    for (const kind of ['radam', 'adam'] as const) {
      it(`${kind} and the EMA over flat vectors equal the per-tensor update (10 steps, across RAdam's switch at t = 6)`, async () => {
        const vars = makeVariables(1);
        const opt = new MomentOptimizer(kind, vars, { lr: 0.05 });
        const ema = new WeightEma(0.9, vars);
        const rng = new Rng(7);
        for (let t = 1; t <= 10; t++) {
          const g = randomGrads(rng);
          opt.apply(g);
          ema.update();
          tf.dispose([...g.values()]);
        }
        const want = referenceRun(kind, 10, 0.05, 0.9);
        const state = await new TrainState(vars, opt, ema).toHost();
        for (const [name] of SHAPES) {
          expectClose(vars.get(name)!.dataSync(), want.p.get(name)!, 2e-5);
          expectClose(state.get(`adam_m/${name}`)!.data, want.m.get(name)!, 2e-5);
          expectClose(state.get(`adam_v/${name}`)!.data, want.v.get(name)!, 2e-5);
          expectClose(ema.averages.get(name)!.dataSync(), want.ema.get(name)!, 2e-5);
          expect(state.get(`ema/${name}`)!.shape).toEqual(SHAPES.find(([n]) => n === name)![1]);
        }
        opt.dispose();
        ema.dispose();
        tf.dispose([...vars.values()]);
      });
    }

    it('keeps the checkpoint names: a state written per tensor loads back into the flat vectors, and a wrong shape is named', async () => {
      const vars = makeVariables(2);
      const opt = new MomentOptimizer('radam', vars, { lr: 0.01 });
      const ema = new WeightEma(0.99, vars);
      const g = randomGrads(new Rng(3));
      opt.apply(g);
      ema.update();
      const saved = await new TrainState(vars, opt, ema).toHost();
      expect([...saved.keys()].sort()).toEqual(SHAPES.flatMap(([n]) => [`student/${n}`, `adam_m/${n}`, `adam_v/${n}`, `ema/${n}`]).sort());
      const other = makeVariables(4);
      const opt2 = new MomentOptimizer('radam', other, { lr: 0.01 });
      const ema2 = new WeightEma(0.99, other);
      new TrainState(other, opt2, ema2).load(saved);
      const again = await new TrainState(other, opt2, ema2).toHost();
      for (const [k, t] of saved) expect(Array.from(again.get(k)!.data)).toEqual(Array.from(t.data));
      const broken = new Map(saved);
      broken.set('adam_v/c', { shape: [4], data: new Float32Array(4) });
      expect(() => new TrainState(other, opt2, ema2).load(broken)).toThrow("training state tensor 'adam_v/c' has shape [4], expected [5]");
      broken.delete('adam_v/c');
      expect(() => new TrainState(other, opt2, ema2).load(broken)).toThrow("training state has no tensor 'adam_v/c'");
      tf.dispose([...g.values(), ...vars.values(), ...other.values()]);
      [opt, ema, opt2, ema2].forEach((o) => o.dispose());
    });

    it('flatConcat and flatSplit are inverse, one kernel each, and leak nothing', () => {
      const parts = SHAPES.map(([, shape], i) => tf.fill(shape, i + 1));
      const before = tf.memory().numTensors;
      const flat = flatConcat(parts);
      expect(flat.shape).toEqual([12 + 3 + 6 + 5]);
      const back = flatSplit(flat, SHAPES.map(([, s]) => s));
      back.forEach((b, i) => {
        expect(b.shape).toEqual(SHAPES[i][1]);
        expect(Array.from(b.dataSync())).toEqual(Array.from(parts[i].dataSync()));
      });
      tf.dispose([flat, ...back]);
      expect(tf.memory().numTensors).toBe(before);
      const three = tf.zeros([3]) as tf.Tensor1D;
      expect(() => flatSplit(three, [[2, 2]])).toThrow('flatSplit: shapes hold 4 entries, the vector 3');
      tf.dispose([three, ...parts]);
    });
  });
}

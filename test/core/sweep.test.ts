import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karrasSigmas } from '../../src/core/edm';
import { type Teacher, loadTeacher } from '../../src/core/models';
import { Rng } from '../../src/core/rng';
import { PidRun } from '../../src/core/run';
import { Sweep, SweepError, SweepReference, planSweep, sweepResults } from '../../src/core/sweep';
import { readModelArg } from '../../src/cli/io';
import type { RunSettings } from '../../src/formats/run-settings';
import { useBackend } from '../helpers/backend';

beforeAll(() => useBackend('wasm'));

// Pinned, not the preset's: the N sweep's bounds were measured with these.
const BASE: RunSettings = { N: 250, loss: 'l2', optimizer: 'radam', lr: 1e-2, lrFinal: 1e-4, ema: 0.99, batch: 256, steps: 100, seed: 0, evalEvery: 10 };
const builtin = async (id: string): Promise<Teacher> => loadTeacher(await readModelArg(`builtin:${id}`));

describe('planSweep', () => {
  it('names a setting by key or flag in any case, and replaces only that setting', () => {
    for (const text of ['lrFinal=1e-3,1e-4', 'lr-final=1e-3,1e-4', 'LRFINAL=1e-3, 1e-4']) {
      const plan = planSweep(text, BASE);
      expect(plan.key).toBe('lrFinal');
      expect(plan.values).toEqual([1e-3, 1e-4]);
      expect(plan.runs).toEqual([{ ...BASE, lrFinal: 1e-3 }, { ...BASE, lrFinal: 1e-4 }]);
    }
    expect(planSweep('loss=l1,pseudo-huber', BASE).runs.map((r) => r.loss)).toEqual(['l1', 'pseudo-huber']);
    expect(planSweep('n=10,25', BASE).values).toEqual([10, 25]);
  });

  it('a swept step count sets evalEvery to a tenth of it only when asked', () => {
    expect(planSweep('steps=200,1000', BASE, { evalEveryFollowsSteps: true }).runs.map((r) => r.evalEvery)).toEqual([20, 100]);
    expect(planSweep('steps=200,1000', BASE).runs.map((r) => r.evalEvery)).toEqual([10, 10]);
  });

  it('refuses every bad value before anything runs, in one line naming the setting and the value', () => {
    const cases: [string, string][] = [
      ['N=10,1', "--sweep N: '1' is refused: N must be between 2 and 100000"],
      ['N=10,2.5', "--sweep N: '2.5' is refused: N must be a whole number"],
      ['lr=1e-3,0', "--sweep lr: '0' is refused: lr must be greater than 0 and at most 1"],
      ['optimizer=adam,sgd', "--sweep optimizer: 'sgd' is refused: optimizer must be one of radam, adam"],
      ['batch=16,,32', '--sweep batch: an empty value (two commas, or one at an end)'],
      ['N=10,10', '--sweep N: 10 is given twice'],
      ['N=', '--sweep N: give at least one value'],
      ['width=3', "--sweep: 'width' is not a run setting (settings: N, loss, optimizer, lr, lrFinal, ema, batch, steps, seed, evalEvery)"],
      ['N 10,20', "--sweep needs NAME=V1,V2,... (got 'N 10,20')"],
    ];
    for (const [text, message] of cases) {
      expect(() => planSweep(text, BASE), text).toThrow(SweepError);
      expect(() => planSweep(text, BASE), text).toThrow(message);
    }
  });
});

describe('the grid Euler error on the single Gaussian N(0, 0.5^2 I)', () => {
  let teacher: Teacher;
  beforeAll(async () => { teacher = await builtin('gaussian'); });
  afterAll(() => teacher.dispose());

  /**
   * D(x, t) = s^2/(s^2 + t^2) x makes Euler a product: x_{i+1} = x_i (1 + (t_{i+1} - t_i) t_i / (s^2 + t_i^2)), against
   * the exact x(t_min) = z sqrt(s^2 + t_min^2) / sqrt(s^2 + T^2); the relative error is |prod - k| / k for every z.
   */
  function closedFormEuler(N: number): number {
    const { sigma_min, sigma_max, rho } = teacher.config.edm;
    const t = karrasSigmas(N, sigma_min, sigma_max, rho);
    const s2 = 0.25;
    let prod = 1;
    for (let i = 0; i < N - 1; i++) prod *= 1 + ((t[i + 1] - t[i]) * t[i]) / (s2 + t[i] * t[i]);
    const k = Math.sqrt(s2 + sigma_min ** 2) / Math.sqrt(s2 + sigma_max ** 2);
    return Math.abs(prod - k) / k;
  }

  it('matches the closed-form Euler recursion for N from 3 to 1000', async () => {
    const ref = new SweepReference(teacher, 0);
    expect(ref.analytic).toBe(true);
    const got: number[] = [];
    for (const N of [3, 10, 25, 100, 250, 1000]) {
      const e = (await ref.gridEulerRelative(N))!;
      got.push(e);
      expect(e / closedFormEuler(N), `N ${N}`).toBeCloseTo(1, 3);
    }
    // first order: 10x the points, about a tenth of the error (measured 0.27, 0.028, 0.0028 at 10, 100, 1000)
    expect(got[1] / got[3]).toBeGreaterThan(8);
    expect(got[3] / got[5]).toBeGreaterThan(8);
    ref.dispose();
  });

  it("is the value a finished run records, with the run's N; a learned teacher records none", async () => {
    // What a bare run leaves behind after its dispose (PidTrainer's own), so the sweep's own leaks show
    const bare = tf.memory().numTensors;
    new PidRun(teacher, { ...BASE, steps: 3, batch: 8 }).dispose();
    const perRun = tf.memory().numTensors - bare;
    const before = tf.memory().numTensors;
    const sweep = new Sweep(teacher, planSweep('N=7,40', { ...BASE, steps: 3, batch: 8 }));
    while (!sweep.done) await sweep.tick();
    expect(sweep.rows.map((r) => r.gridEulerRelative! / closedFormEuler(r.value as number))).toEqual([expect.closeTo(1, 3), expect.closeTo(1, 3)]);
    expect(sweep.rows.map((r) => r.steps)).toEqual([3, 3]);
    sweep.dispose();
    expect(tf.memory().numTensors).toBe(before + 2 * perRun);
    const learned = await builtin('moons-mlp');
    const ref = new SweepReference(learned, 0);
    expect(await ref.gridEulerRelative(10)).toBeNull();
    ref.dispose();
    learned.dispose();
  });

  it('the validation noise is the base seed\'s for every run, also when the seed is swept', async () => {
    const sweep = new Sweep(teacher, planSweep('seed=0,5', { ...BASE, steps: 1, batch: 4 }));
    while (!sweep.done) await sweep.tick();
    // the grid error depends on the noise only: the same grid and noise, the same number
    expect(sweep.rows[0].gridEulerRelative).toBe(sweep.rows[1].gridEulerRelative);
    const z = new Rng(2).normals(4, 80); // base seed 0 + 2, as distill's validation noise
    const ref = new SweepReference(teacher, 0);
    expect(Array.from(ref.z.dataSync().slice(0, 4))).toEqual(Array.from(z));
    ref.dispose();
    sweep.dispose();
  });
});

describe('an N sweep on a mixture teacher', () => {
  it('the one-step error falls from the smallest N to the largest, and so does the grid Euler error', async () => {
    // uneven3, 600 Adam steps of 64 draws, measured: N 3 80 % (Euler 81 %), N 250 17 % (Euler 1.0 %), 15 s a run on wasm
    const teacher = await builtin('uneven3');
    const plan = planSweep('N=3,250', { ...BASE, optimizer: 'adam', steps: 600, batch: 64, evalEvery: 600 });
    const sweep = new Sweep(teacher, plan, { tickMs: 1000 });
    while (!sweep.done) await sweep.tick();
    const rows = sweep.rows;
    console.log(rows.map((r) => `N ${r.value}: one-step ${(r.oneStepRelative * 100).toFixed(1)} %, Euler ${(r.gridEulerRelative! * 100).toFixed(1)} %, ${r.seconds.toFixed(1)} s`).join('; '));
    expect(rows.map((r) => r.value)).toEqual([3, 250]);
    const [small, large] = rows;
    expect(large.oneStepRelative).toBeLessThan(small.oneStepRelative * 0.5);
    expect(large.gridEulerRelative!).toBeLessThan(small.gridEulerRelative! * 0.1);
    // at N 3 the student is as bad as the grid's Euler (it has converged to it); at N 250 the optimisation limits it
    expect(small.oneStepRelative / small.gridEulerRelative!).toBeCloseTo(1, 1);
    expect(large.oneStepRelative).toBeGreaterThan(large.gridEulerRelative!);
    const json = sweepResults(teacher.config.name, plan.key, rows);
    expect(Object.keys(json)).toEqual(['teacher', 'sweep', 'runs']);
    expect(Object.keys(json.runs[0])).toEqual(['N', 'oneStepRelative', 'oneStepRmse', 'trajectoryRmse', 'seconds', 'gridEulerRelative']);
    sweep.dispose();
    teacher.dispose();
  }, 180_000);
});

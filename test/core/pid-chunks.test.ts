import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Network, initParams } from '../../src/core/nets';
import { FAULT_POLICY, type PidSettings, PidTrainer, type StepMetrics, TrainingDiverged, pidLoss, pidLossOfStudent, stopGradDenoiser } from '../../src/core/pid';
import { Rng } from '../../src/core/rng';
import { GaussianMixtureDenoiser } from '../../src/core/teachers/gaussian-mixture';
import { useBackend } from '../helpers/backend';
import { edm, flakyTeacher, settings, spec } from '../helpers/flaky-teacher';

beforeAll(() => useBackend('cpu'));


function setup(faulty: (call: number) => boolean = () => false, extra: Partial<PidSettings> = {}) {
  const teacher = flakyTeacher(faulty);
  const net = new Network(spec, [2], initParams(spec, [2], new Rng(0)), true);
  const trainer = new PidTrainer({ teacher, student: net, edm, settings: { ...settings, ...extra } });
  return { trainer, net, done: () => (trainer.dispose(), net.dispose(), teacher.dispose()) };
}

const weights = (net: Network) => [...net.params.values()].map((p) => Array.from(p.dataSync()));
const strip = (m: StepMetrics[]) => m.map(({ stepMs: _, ...rest }) => rest);
const counters = (t: PidTrainer) => [t.step, t.skippedSteps, t.restores, t.lrFactor, t.optimizer.step, t.ema?.updates, t.optimizer.lr];

describe('trainSteps', () => {
  it('equals the same number of trainStep() calls: losses, weights, EMA and counters, across a snapshot boundary', async () => {
    const a = setup();
    const b = setup();
    const stepwise: StepMetrics[] = [];
    for (let i = 0; i < FAULT_POLICY.snapshotEvery + 12; i++) stepwise.push(await a.trainer.trainStep());
    const chunked = [...(await b.trainer.trainSteps(7)), ...(await b.trainer.trainSteps(FAULT_POLICY.snapshotEvery + 5))];
    expect(strip(chunked)).toEqual(strip(stepwise));
    expect(weights(b.net)).toEqual(weights(a.net));
    expect([...b.trainer.ema!.averages.values()].map((t) => Array.from(t.dataSync()))).toEqual([...a.trainer.ema!.averages.values()].map((t) => Array.from(t.dataSync())));
    expect(counters(b.trainer)).toEqual(counters(a.trainer));
    a.done();
    b.done();
  });

  it('follows an lr schedule inside a chunk as setLearningRate before each step does', async () => {
    const lrAt = (step: number) => 2e-3 * 0.9 ** step;
    const a = setup(() => false, { optimizer: 'adam' });
    const b = setup(() => false, { optimizer: 'adam' });
    const stepwise: StepMetrics[] = [];
    for (let i = 0; i < 9; i++) {
      a.trainer.setLearningRate(lrAt(a.trainer.step + 1));
      stepwise.push(await a.trainer.trainStep());
    }
    expect(strip(await b.trainer.trainSteps(9, lrAt))).toEqual(strip(stepwise));
    expect(weights(b.net)).toEqual(weights(a.net));
    expect(b.trainer.optimizer.lr).toBe(lrAt(9));
    a.done();
    b.done();
  });

  it('skips a NaN step inside a chunk on the device: nothing changes, the rest of the chunk goes on from there', async () => {
    const a = setup((c) => c === 4);
    const b = setup((c) => c === 4);
    const stepwise: StepMetrics[] = [];
    for (let i = 0; i < 8; i++) stepwise.push(await a.trainer.trainStep());
    const chunked = await b.trainer.trainSteps(8);
    expect(chunked.map((m) => m.skipped)).toEqual([false, false, false, true, false, false, false, false]);
    expect(chunked.map((m) => m.step)).toEqual([1, 2, 3, 3, 4, 5, 6, 7]);
    expect(Number.isNaN(chunked[3].loss)).toBe(true);
    expect(strip(chunked)).toEqual(strip(stepwise));
    expect(weights(b.net)).toEqual(weights(a.net));
    expect(counters(b.trainer)).toEqual(counters(a.trainer));
    expect(b.trainer.skippedSteps).toBe(1);
    a.done();
    b.done();
  });

  it('restores and finally gives up on repeated faults inside chunks exactly as step by step', async () => {
    const failFrom = FAULT_POLICY.snapshotEvery + 5;
    const run = async (chunked: boolean) => {
      const r = setup((c) => c >= failFrom);
      const seen: StepMetrics[] = [];
      let error: unknown = null;
      try {
        if (chunked) seen.push(...(await r.trainer.trainSteps(200)));
        else for (let i = 0; i < 200; i++) seen.push(await r.trainer.trainStep());
      } catch (e) {
        error = e;
      }
      const out = { error: (error as Error)?.message, diverged: error instanceof TrainingDiverged, counters: counters(r.trainer), weights: weights(r.net) };
      r.done();
      return out;
    };
    const [stepwise, chunked] = [await run(false), await run(true)];
    expect(stepwise.diverged).toBe(true);
    expect(chunked).toEqual(stepwise);
    expect(chunked.counters.slice(0, 4)).toEqual([FAULT_POLICY.snapshotEvery, FAULT_POLICY.consecutiveBeforeRestore * (FAULT_POLICY.maxRestores + 1), FAULT_POLICY.maxRestores, 1 / 8]);
  });

  it('resumes exactly from a checkpoint taken after trainSteps', async () => {
    const a = setup();
    await a.trainer.trainSteps(23);
    const state = await a.trainer.saveState();
    const cont = await a.trainer.trainSteps(31);
    const b = setup();
    b.trainer.loadState(state);
    expect(strip(await b.trainer.trainSteps(31))).toEqual(strip(cont));
    expect(weights(b.net)).toEqual(weights(a.net));
    a.done();
    b.done();
  });

  it('keeps an exportParams() map held across chunks current, as the per-tensor EMA of before was', async () => {
    const a = setup();
    await a.trainer.trainSteps(3);
    const held = a.trainer.exportParams();
    const first = [...held.values()].map((t) => Array.from(t.dataSync()));
    await a.trainer.trainSteps(4);
    const saved = await a.trainer.saveState();
    const now = [...held].map(([name, t]) => [Array.from(t.dataSync()), Array.from(saved.tensors.get(`ema/${name}`)!.data)]);
    now.forEach(([got, want]) => expect(got).toEqual(want));
    expect(now.map(([got]) => got)).not.toEqual(first);
    a.done();
  });

  it('keeps tf.memory() flat over chunks and says what a bad count is', async () => {
    const a = setup();
    await a.trainer.trainSteps(5);
    const before = [tf.memory().numTensors, tf.memory().numBytes];
    await a.trainer.trainSteps(60);
    expect([tf.memory().numTensors, tf.memory().numBytes]).toEqual(before);
    await expect(a.trainer.trainSteps(0)).rejects.toThrow('trainSteps needs a whole number of steps, at least 1 (got 0)');
    a.done();
  });
});

describe("the trainer's loss with its gradient written out", () => {
  for (const loss of ['l2', 'l1', 'pseudo-huber'] as const) {
    it(`equals pidLoss with the stop-gradient teacher, value and gradient (${loss})`, () => {
      const host = initParams(spec, [2], new Rng(5));
      const rng = new Rng(6);
      for (const t of host.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.4 * rng.normal();
      const net = new Network(spec, [2], host, true);
      const teacher = new GaussianMixtureDenoiser({ weights: [0.5, 0.5], means: [[-0.5, 0.2], [0.4, -0.3]], stds: [0.2, 0.1] });
      const zHost = new Rng(3).normals(12, 80);
      const t = [80, 20, 3, 0.6, 0.05, 0.002];
      const tNext = [60, 15, 2.5, 0.5, 0.04, 0.0022];
      const vars = [...net.params.values()] as tf.Variable[];
      tf.tidy(() => {
        const want = tf.variableGrads(() => pidLoss(net.apply, stopGradDenoiser(teacher), edm, loss, tf.tensor2d(zHost, [6, 2]), tf.tensor1d(t), tf.tensor1d(tNext)), vars);
        const lossOf = pidLossOfStudent(net.apply, (y, s) => teacher.denoise(y, s), edm, loss, { z: zHost, dataShape: [2], t, tNext });
        const got = tf.variableGrads(lossOf, vars);
        const [gv, wv] = [got.value.dataSync()[0], want.value.dataSync()[0]];
        expect(Math.abs(gv - wv)).toBeLessThan(1e-5 * Math.abs(wv));
        for (const v of vars) {
          const [g, w] = [got.grads[v.name].dataSync(), want.grads[v.name].dataSync()];
          const scale = Math.max(...Array.from(w, Math.abs));
          g.forEach((gi, i) => expect(Math.abs(gi - w[i])).toBeLessThan(1e-4 * scale + 1e-7));
        }
      });
      net.dispose();
      teacher.dispose();
    });
  }
});

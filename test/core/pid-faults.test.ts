import { beforeAll, describe, expect, it } from 'vitest';
import { Network, initParams } from '../../src/core/nets';
import { FAULT_POLICY, PidTrainer, TrainingDiverged } from '../../src/core/pid';
import { Rng } from '../../src/core/rng';
import { useBackend } from '../helpers/backend';
import { edm, flakyTeacher, settings, spec } from '../helpers/flaky-teacher';

beforeAll(() => useBackend('cpu'));


const weights = (net: Network) => [...net.params.values()].map((p) => Array.from(p.dataSync()));

function setup(faulty: (call: number) => boolean) {
  const teacher = flakyTeacher(faulty);
  const net = new Network(spec, [2], initParams(spec, [2], new Rng(0)), true);
  const trainer = new PidTrainer({ teacher, student: net, edm, settings });
  return { trainer, net, done: () => (trainer.dispose(), net.dispose(), teacher.dispose()) };
}

describe('non-finite steps', () => {
  it('are skipped and counted, and change no weight', async () => {
    const { trainer, net, done } = setup((c) => c === 6 || c === 7);
    for (let i = 0; i < 5; i++) expect((await trainer.trainStep()).skipped).toBe(false);
    const before = weights(net);
    const m6 = await trainer.trainStep();
    const m7 = await trainer.trainStep();
    expect([m6.skipped, m7.skipped]).toEqual([true, true]);
    expect(Number.isNaN(m6.loss)).toBe(true);
    expect(weights(net)).toEqual(before);
    expect(trainer.step).toBe(5);
    const m8 = await trainer.trainStep();
    expect(m8.skipped).toBe(false);
    expect(m8.step).toBe(6);
    expect(trainer.skippedSteps).toBe(2);
    expect(trainer.restores).toBe(0);
    done();
  });

  it('when repeated, restore the last good state at half the learning rate, then stop with a clear message', async () => {
    const failFrom = FAULT_POLICY.snapshotEvery + 5;
    const { trainer, net, done } = setup((c) => c >= failFrom);
    for (let i = 1; i < failFrom; i++) await trainer.trainStep();
    expect(trainer.step).toBe(failFrom - 1);
    trainer.setLearningRate(1e-3);
    let snapshotWeights: number[][] | null = null;
    let error: unknown = null;
    try {
      for (let i = 0; i < 100; i++) {
        await trainer.trainStep();
        if (trainer.restores === 1 && !snapshotWeights) snapshotWeights = weights(net);
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrainingDiverged);
    expect((error as Error).message).toMatch(/training diverged: loss NaN.*after 3 restores.*lower the learning rate/);
    expect(trainer.restores).toBe(FAULT_POLICY.maxRestores);
    expect(trainer.lrFactor).toBe(1 / 8);
    expect(trainer.optimizer.lr).toBeCloseTo(1e-3 / 8, 12);
    expect(trainer.step).toBe(FAULT_POLICY.snapshotEvery); // back at the snapshot
    expect(weights(net)).toEqual(snapshotWeights);
    expect(trainer.skippedSteps).toBe(FAULT_POLICY.consecutiveBeforeRestore * (FAULT_POLICY.maxRestores + 1));
    done();
  });
});

describe('training state', () => {
  it('saves and loads so that a resumed run continues exactly', async () => {
    const a = setup(() => false);
    for (let i = 0; i < 30; i++) await a.trainer.trainStep();
    const state = await a.trainer.saveState();
    expect(state.step).toBe(30);
    expect([...state.tensors.keys()].filter((k) => k.startsWith('ema/'))).toHaveLength(a.net.params.size);
    expect(state.tensors.size).toBe(4 * a.net.params.size);
    const cont: number[] = [];
    for (let i = 0; i < 10; i++) cont.push((await a.trainer.trainStep()).loss);
    const b = setup(() => false);
    b.trainer.loadState(state);
    const resumed: number[] = [];
    for (let i = 0; i < 10; i++) resumed.push((await b.trainer.trainStep()).loss);
    expect(resumed).toEqual(cont);
    expect(weights(b.net)).toEqual(weights(a.net));
    expect(b.trainer.step).toBe(40);
    a.done();
    b.done();
  });
});

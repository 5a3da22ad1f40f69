/**
 * Micro-batches with gradient accumulation: a batch split into micro-batches gives the same loss, gradient and
 * weights as the whole batch at once (up to float32 round-off of the sums), for an image teacher with labels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { microBatchBounds } from '../../src/core/pid';
import { PidRun } from '../../src/core/run';
import { RUN_DEFAULTS, type RunSettings } from '../../src/formats/run-settings';
import { useBackend } from '../helpers/backend';
import { edmTeacher, tinySongUnet } from '../helpers/edm-teacher';

beforeAll(() => useBackend('wasm'));

const settings = (o: Partial<RunSettings> = {}): RunSettings => ({ ...RUN_DEFAULTS, lr: 1e-3, lrFinal: 1e-3, batch: 7, steps: 3, evalEvery: 3, ...o });
const weightsOf = (run: PidRun) => [...run.student.params.values()].map((p) => Array.from(p.dataSync()));

function maxRelDiff(a: number[][], b: number[][]): number {
  let diff = 0;
  let scale = 0;
  a.forEach((row, i) => row.forEach((v, j) => {
    diff = Math.max(diff, Math.abs(v - b[i][j]));
    scale = Math.max(scale, Math.abs(v));
  }));
  return diff / scale;
}

describe('micro-batches', () => {
  it('cover the batch in order, the last one smaller', () => {
    expect(microBatchBounds(7, 3)).toEqual([[0, 3], [3, 6], [6, 7]]);
    expect(microBatchBounds(7)).toEqual([[0, 7]]);
    expect(microBatchBounds(4, 9)).toEqual([[0, 4]]);
    expect(microBatchBounds(3, 1)).toEqual([[0, 1], [1, 2], [2, 3]]);
  });

  for (const loss of ['l2', 'pseudo-huber'] as const) {
    it(`give the whole batch's loss, gradient norm and weights after each step (${loss}, class-conditional SongUNet)`, async () => {
      const teacher = await edmTeacher(tinySongUnet({ label_dim: 3 }));
      const whole = new PidRun(teacher, settings({ loss }));
      const split = new PidRun(teacher, settings({ loss }), { microBatch: 3 });
      expect(split.microBatch).toBe(3);
      expect(whole.microBatch).toBe(7);
      const before = weightsOf(whole);
      for (let i = 0; i < 2; i++) {
        const [a] = await whole.trainer.trainSteps(1);
        const tensors = tf.memory().numTensors;
        const [b] = await split.trainer.trainSteps(1);
        if (i > 0) expect(tf.memory().numTensors).toBe(tensors); // nothing left behind by the accumulation
        expect(b.skipped).toBe(false);
        expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(1e-5);
        expect(Math.abs(b.gradNorm - a.gradNorm) / a.gradNorm).toBeLessThan(1e-4);
        expect(maxRelDiff(weightsOf(split), weightsOf(whole))).toBeLessThan(1e-5);
      }
      expect(maxRelDiff(weightsOf(whole), before)).toBeGreaterThan(1e-5); // the steps moved the weights: the test can fail
      // and the split step really holds less at once: its peak of live tensor bytes is lower
      const peak = async (run: PidRun) => (await tf.profile(async () => { await run.trainer.trainSteps(1); return []; })).peakBytes;
      expect(await peak(split)).toBeLessThan(0.8 * (await peak(whole)));
      whole.dispose();
      split.dispose();
      teacher.dispose();
    }, 120_000);
  }
});

import { describe, expect, it } from 'vitest';
import type { MetricPoint } from '../../src/worker/protocol';
import { RunKeeper } from '../../src/worker/run-keeper';
import { MemoryRunStore, isSavedRun, packMetrics, unpackMetrics } from '../../src/worker/saved-run';
import type { WorkerEvent } from '../../src/worker/protocol';

const pt = (step: number, loss = 1 / step): MetricPoint => ({ step, loss, gradNorm: 2 * step, stepMs: 3.5, time: 10 * step, lr: 1e-3 / step });

describe('saved runs', () => {
  it('metrics pack into one Float64Array and back unchanged', () => {
    const points = [pt(1), pt(2, Number.NaN), pt(3, 1e-12)];
    const packed = packMetrics(points);
    expect(packed.length).toBe(18);
    expect(unpackMetrics(packed)).toEqual(points);
  });

  it('the keeper drops history a restore went back over, and a store failure is reported, not thrown', async () => {
    const events: WorkerEvent[] = [];
    const store = new MemoryRunStore();
    store.save = async () => { throw Object.assign(new Error('quota'), { name: 'QuotaExceededError' }); };
    let t = 0;
    const keeper = new RunKeeper({ store, emit: (e) => events.push(e), now: () => (t += 5), wallClock: () => 42 });
    for (const s of [1, 2, 3, 4]) keeper.recordStep(pt(s));
    keeper.recordStep(pt(3, 0.25)); // a restore went back to step 2
    expect(keeper.metrics.map((p) => [p.step, p.loss])).toEqual([[1, 1], [2, 0.5], [3, 0.25]]);
    const err = { rmsePath: 1, rmseEnd: 1, relEnd: 1 };
    keeper.recordEval({ step: 2, raw: err, ema: err });
    keeper.keep({
      checkpoint: new Uint8Array(8), teacher: { source: { kind: 'builtin', id: 'x' }, name: 'x', sha256: 'ab', files: null },
      settings: { N: 2, loss: 'l2', optimizer: 'adam', lr: 1, lrFinal: 1, ema: 0, batch: 1, steps: 9, seed: 0, evalEvery: 1 }, view: { heunSteps: 2 },
      phase: 'paused', step: 2, elapsedMs: 20, pauseMs: 1,
    });
    expect(isSavedRun(keeper.latest)).toBe(true);
    expect(unpackMetrics(keeper.latest!.metrics).map((p) => p.step)).toEqual([1, 2]); // only what the checkpoint holds
    await keeper.written();
    expect(events).toEqual([{ type: 'checkpoint', checkpoint: expect.objectContaining({ step: 2, stored: false, storageError: expect.stringMatching(/QuotaExceededError: quota.*a reload would lose the run/) }) }]);
  });

  it('isSavedRun refuses records of another version or with missing parts', () => {
    expect(isSavedRun(null)).toBe(false);
    expect(isSavedRun({ version: 2 })).toBe(false);
    expect(isSavedRun({ version: 1, savedAt: 1, teacher: { sha256: 'a' }, settings: { steps: 1 }, step: 1, metrics: [], evals: [], checkpoint: new Uint8Array(1) })).toBe(false);
  });
});

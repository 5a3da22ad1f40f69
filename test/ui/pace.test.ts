import { describe, expect, it } from 'vitest';
import { etaSeconds, evalInterval, evaluationsLeft, runPace } from '../../src/ui/pace';

/**
 * A run as the worker reports it: a step takes `stepMs`, every `checkpointEvery` steps a checkpoint adds
 * `checkpointMs`, and after every step that is a multiple of K (and the last) an evaluation adds `evalMs` before
 * the next step; the step-0 evaluation comes before step 1.
 */
function simulate(o: { total: number; K: number; stepMs: number; evalMs: number; checkpointEvery?: number; checkpointMs?: number }) {
  const steps: number[] = [];
  const times: number[] = [];
  let t = o.evalMs; // step 0's evaluation
  for (let s = 1; s <= o.total; s++) {
    t += o.stepMs;
    steps.push(s);
    times.push(t);
    if (s % o.K === 0 || s === o.total) t += o.evalMs;
    if (o.checkpointEvery && s % o.checkpointEvery === 0) t += o.checkpointMs ?? 0;
  }
  return { steps, times, end: t };
}

/** The evaluations the page has received once the point of step `s` arrived (that step's own comes later). */
const evalsBefore = (s: number, K: number) => Array.from({ length: Math.floor((s - 1) / K) + 1 }, (_, i) => i * K);

describe('run pace', () => {
  const run = { total: 200, K: 20, stepMs: 900, evalMs: 12_000 };
  const sim = simulate(run);

  it('the speed does not swing with the evaluation pauses: the same at every step once one has been timed', () => {
    // The rate with evaluations spread over their interval: 1000 / (900 + 12000 / 20) = 0.667 steps/s.
    const truth = 1000 / (run.stepMs + run.evalMs / run.K);
    for (let s = 22; s <= run.total; s++) {
      const pace = runPace(sim.steps.slice(0, s), sim.times.slice(0, s), evalsBefore(s, run.K), run.K)!;
      expect(pace.stepMs).toBeCloseTo(run.stepMs, 6);
      expect(pace.evalMs).toBeCloseTo(run.evalMs, 6);
      expect(pace.stepsPerSecond).toBeCloseTo(truth, 9);
    }
  });

  it('the ETA is the time the run still takes, evaluations included, right after an evaluation pause too', () => {
    for (const s of [22, 40, 41, 59, 60, 61, 119, 120, 121, 199]) {
      const evals = evalsBefore(s, run.K);
      const eta = etaSeconds(runPace(sim.steps.slice(0, s), sim.times.slice(0, s), evals, run.K), s, run.total, run.K, evals.at(-1)!)!;
      expect(eta * 1000).toBeCloseTo(sim.end - sim.times[s - 1], 6);
    }
    // once the evaluation of step 60 has arrived it no longer counts: what is left is measured from the same point
    const s = 60;
    const evals = [...evalsBefore(s, run.K), 60];
    const pace = runPace(sim.steps.slice(0, s), sim.times.slice(0, s), evals, run.K);
    expect(etaSeconds(pace, s, run.total, run.K, 60)! * 1000).toBeCloseTo(sim.end - sim.times[s - 1] - run.evalMs, 6);
  });

  it('checkpoint pauses are spread over the steps; a run without an evaluation between steps has no evaluation time', () => {
    const c = simulate({ total: 400, K: 1000, stepMs: 100, evalMs: 500, checkpointEvery: 10, checkpointMs: 200 });
    const pace = runPace(c.steps, c.times, [0], null)!;
    expect(pace.stepMs).toBeCloseTo(120, 9); // 50 steps: 5 checkpoints of 200 ms
    expect(pace.stepsPerSecond).toBeCloseTo(1000 / 120, 9);
    // only the step-0 evaluation has been seen: its gap (500 + the first step) is the estimate, spread over nothing
    expect(pace.evalMs).toBeCloseTo(500 + 100 - 120, 9);
  });

  it('an evaluation after every step is part of the step time', () => {
    const e = simulate({ total: 30, K: 1, stepMs: 100, evalMs: 50 });
    const pace = runPace(e.steps, e.times, Array.from({ length: 30 }, (_, i) => i), 1)!;
    expect(pace.evalMs).toBeNull();
    expect(pace.stepMs).toBeCloseTo(150, 9);
  });

  it('needs two points and one step gap', () => {
    expect(runPace([], [], [], null)).toBeNull();
    expect(runPace([1], [10], [0], 5)).toBeNull();
    expect(runPace([1, 1], [10, 20], [], 5)).toBeNull();
    expect(etaSeconds(null, 1, 10, 5, 0)).toBeNull();
  });

  it('counts the evaluations still to come', () => {
    expect(evaluationsLeft(0, 100, 50, 0)).toBe(2); // 50, 100
    expect(evaluationsLeft(45, 100, 50, 40)).toBe(2);
    expect(evaluationsLeft(50, 100, 50, 0)).toBe(2); // the point of step 50 is in, its evaluation not yet
    expect(evaluationsLeft(50, 100, 50, 50)).toBe(1);
    expect(evaluationsLeft(95, 110, 50, 50)).toBe(2); // 100, and the final one at 110
    expect(evaluationsLeft(100, 100, 50, 100)).toBe(0);
    expect(evaluationsLeft(10, 20, null, 0)).toBe(1); // interval unknown: the final one
    expect(evalInterval(null, [0, 25, 50])).toBe(25);
    expect(evalInterval(10, [0, 25])).toBe(10);
    expect(evalInterval(undefined, [0])).toBeNull();
  });
});

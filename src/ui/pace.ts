/**
 * How fast a run goes, from its metric columns: the time a training step takes over the recent steps and what each
 * evaluation adds, so neither an evaluation pause nor a fast stretch between two of them swings the speed or the ETA.
 *
 * A metric point's time is taken when its step ends, before the evaluation that may follow it; so the gap from
 * an evaluated step to the next step holds one evaluation.
 */

export interface Pace {
  /** Milliseconds per training step over the recent steps (checkpoint pauses included, evaluations not). */
  stepMs: number;
  /** Milliseconds one evaluation adds; null until one has been timed. */
  evalMs: number | null;
  /** Steps per second with the evaluations spread over their interval. */
  stepsPerSecond: number;
}

/** Steps of training time the speed is averaged over. */
export const PACE_WINDOW = 50;
/** Evaluations the evaluation time is averaged over. */
const EVAL_WINDOW = 3;

/** Index of `step` in the ascending `steps`, or -1. */
function indexOf(steps: ArrayLike<number>, step: number): number {
  let lo = 0;
  let hi = steps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] === step) return mid;
    if (steps[mid] < step) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The evaluation interval: the run's setting, else the spacing of the last two evaluations. */
export function evalInterval(evalEvery: number | null | undefined, evalSteps: readonly number[]): number | null {
  if (evalEvery && evalEvery > 0) return evalEvery;
  const n = evalSteps.length;
  const d = n >= 2 ? evalSteps[n - 1] - evalSteps[n - 2] : 0;
  return d > 0 ? d : null;
}

/**
 * The run's pace from (step, time) columns and the steps evaluated so far (ascending). Null until one step gap
 * without an evaluation in it has been seen.
 */
export function runPace(steps: ArrayLike<number>, times: ArrayLike<number>, evalSteps: readonly number[], evalEvery: number | null, window = PACE_WINDOW): Pace | null {
  const n = steps.length;
  if (n < 2) return null;
  const evaluated = new Set(evalSteps);
  let ms = 0;
  let count = 0;
  // Bounded look-back: with an evaluation after every step no gap is free of one.
  for (let i = n - 1, seen = 0; i >= 1 && count < window && seen < 4 * window; i--, seen++) {
    const d = steps[i] - steps[i - 1];
    if (d <= 0 || evaluated.has(steps[i - 1])) continue;
    ms += times[i] - times[i - 1];
    count += d;
  }
  if (count === 0) {
    // Every recent gap holds an evaluation: the step time includes it and nothing is added on top.
    for (let i = n - 1; i >= 1 && count < window; i--) {
      const d = steps[i] - steps[i - 1];
      if (d <= 0) continue;
      ms += times[i] - times[i - 1];
      count += d;
    }
    if (count === 0 || !(ms > 0)) return null;
    return { stepMs: ms / count, evalMs: null, stepsPerSecond: (1000 * count) / ms };
  }
  const stepMs = ms / count;
  const extras: number[] = [];
  for (let k = evalSteps.length - 1; k >= 0 && extras.length < EVAL_WINDOW; k--) {
    const j = indexOf(steps, evalSteps[k]);
    if (j < 0 || j + 1 >= n) continue;
    extras.push(times[j + 1] - times[j] - (steps[j + 1] - steps[j]) * stepMs);
  }
  // Before any such gap, the first point's time holds the step-0 evaluation and step 1 (an over-estimate: warm-up).
  if (extras.length === 0 && evaluated.has(0) && steps[0] === 1) extras.push(times[0] - stepMs);
  const evalMs = extras.length ? Math.max(0, extras.reduce((a, b) => a + b, 0) / extras.length) : null;
  const every = evalInterval(evalEvery, evalSteps);
  const perStep = stepMs + (evalMs !== null && every ? evalMs / every : 0);
  return { stepMs, evalMs, stepsPerSecond: perStep > 0 ? 1000 / perStep : Infinity };
}

/**
 * Evaluations still to come when the last step reported is `step` and the last evaluation received was at
 * `lastEvalStep`: every multiple of `evalEvery` up to `total` not yet evaluated, and the one at the end of the run.
 */
export function evaluationsLeft(step: number, total: number, evalEvery: number | null, lastEvalStep: number): number {
  if (lastEvalStep >= total) return 0;
  if (!evalEvery || evalEvery <= 0) return 1;
  const first = lastEvalStep >= step ? step + 1 : step;
  const multiples = first > total ? 0 : Math.floor(total / evalEvery) - Math.floor((first - 1) / evalEvery);
  return multiples + (total % evalEvery !== 0 ? 1 : 0);
}

/** Seconds left after the last reported step: the steps at the step time, plus the evaluations still to come. */
export function etaSeconds(pace: Pace | null, step: number, total: number, evalEvery: number | null, lastEvalStep: number): number | null {
  if (!pace || total <= 0) return null;
  const ms = Math.max(0, total - step) * pace.stepMs + evaluationsLeft(step, total, evalEvery, lastEvalStep) * (pace.evalMs ?? 0);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

/**
 * "auto" on a machine with a real GPU: which backend is faster depends on the teacher (a small MLP step is bound by
 * the launch count, where wasm often wins; a UNet step by arithmetic, where the GPU does), so the candidates are
 * timed on a few PID steps of the loaded teacher and the fastest is kept, per teacher and device.
 */
import * as tf from '@tensorflow/tfjs-core';
import { RUN_DEFAULTS, type RunSettings } from '../formats/run-settings';
import type { InputFile } from '../formats/model-file';
import { PidRun } from '../core/run';
import { loadTeacher } from '../core/models';
import { readAnyModel } from '../core/model-import';

export interface RaceResult {
  backend: string;
  stepsPerSecond: number;
}

/** Steps timed per candidate, after one untimed step (shader compilation, first allocations). */
const TIMED_STEPS = 4;

/** A representative run of the teacher: the Quick preset at a CPU's batch for points, a small one for images. */
function raceSettings(dataSize: number): RunSettings {
  return { ...RUN_DEFAULTS, batch: dataSize <= 16 ? 256 : 16, steps: 1 + TIMED_STEPS, evalEvery: 1 + TIMED_STEPS };
}

/** PID steps/s of the teacher in `files` on the backend that runs now (its tensors made and freed here). */
export async function timePidSteps(files: InputFile[]): Promise<number> {
  const teacher = loadTeacher(await readAnyModel(files));
  const size = teacher.config.data.shape.reduce((a, b) => a * b, 1);
  const run = new PidRun(teacher, raceSettings(size));
  try {
    await run.trainer.trainSteps(1, (n) => run.lrAt(n));
    const start = performance.now();
    await run.trainer.trainSteps(TIMED_STEPS, (n) => run.lrAt(n));
    return (TIMED_STEPS * 1000) / (performance.now() - start);
  } finally {
    run.dispose();
    teacher.dispose();
  }
}

/**
 * Times every candidate (switching tfjs to it with `use`) and returns the results fastest first; a candidate that
 * fails to start or to step is left out. tfjs is left on the last candidate tried: the caller switches to the winner.
 */
export async function raceBackends(candidates: string[], use: (backend: string) => Promise<void>, time: () => Promise<number>): Promise<RaceResult[]> {
  const results: RaceResult[] = [];
  for (const backend of candidates) {
    try {
      await use(backend);
      results.push({ backend: tf.getBackend(), stepsPerSecond: await time() });
    } catch {
      // not a candidate on this machine after all
    }
  }
  return results.sort((a, b) => b.stepsPerSecond - a.stepsPerSecond);
}

/** The badge's words for a race. */
export function raceReason(results: RaceResult[]): string {
  const [best, ...rest] = results;
  const others = rest.map((r) => `${r.backend} ${r.stepsPerSecond.toFixed(1)}`).join(', ');
  return `auto: ${best.backend}, the fastest on this teacher here (${best.stepsPerSecond.toFixed(1)} PID steps/s${others ? ` against ${others}` : ''}, timed)`;
}

/**
 * A distillation saved in the browser so that a reload, a closed tab or a lost GPU does not cost the run: the
 * checkpoint file (core/checkpoint.ts: weights, EMA, optimiser moments, step, RNG, fault counters, teacher sha256)
 * plus what the page needs to carry on showing the same run (settings, curves, the teacher or where to get it).
 * One slot: a new run replaces the saved one.
 */
import type { InputFile } from '../formats/model-file';
import type { EvalPoint, MetricPoint, RunPhase, RunSettings, SavedRunSummary, TeacherSource } from './protocol';

export const SAVED_RUN_VERSION = 1;

export interface SavedRun {
  version: typeof SAVED_RUN_VERSION;
  /** Date.now() when it was saved. */
  savedAt: number;
  teacher: {
    source: TeacherSource;
    name: string;
    sha256: string;
    /** A dropped teacher's files (a built-in one is fetched again from the site). */
    files: InputFile[] | null;
  };
  settings: RunSettings;
  /** The run's phase when it was saved ('training' when the page went away mid-run). */
  phase: RunPhase;
  step: number;
  /** Run clock (pauses excluded) at the save, in ms. */
  elapsedMs: number;
  /** Step metrics up to `step`, packed by packMetrics. */
  metrics: Float64Array;
  evals: EvalPoint[];
  /** core/checkpoint.ts bytes. */
  checkpoint: Uint8Array;
}

/** Where saved runs live: IndexedDB in the worker (idb-run-store.ts), memory in tests. */
export interface RunStore {
  load(): Promise<SavedRun | null>;
  save(run: SavedRun): Promise<void>;
  clear(): Promise<void>;
}

export class MemoryRunStore implements RunStore {
  saved: SavedRun | null = null;
  saves = 0;
  async load(): Promise<SavedRun | null> {
    return this.saved;
  }
  async save(run: SavedRun): Promise<void> {
    this.saved = run;
    this.saves++;
  }
  async clear(): Promise<void> {
    this.saved = null;
  }
}

const METRIC_FIELDS = 5;

/** Metric points as one flat array [step, loss, gradNorm, stepMs, time] per point (cheap to clone and store). */
export function packMetrics(points: MetricPoint[]): Float64Array {
  const out = new Float64Array(points.length * METRIC_FIELDS);
  points.forEach((p, i) => out.set([p.step, p.loss, p.gradNorm, p.stepMs, p.time], i * METRIC_FIELDS));
  return out;
}

export function unpackMetrics(packed: Float64Array): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (let i = 0; i + METRIC_FIELDS <= packed.length; i += METRIC_FIELDS) {
    out.push({ step: packed[i], loss: packed[i + 1], gradNorm: packed[i + 2], stepMs: packed[i + 3], time: packed[i + 4] });
  }
  return out;
}

export function summarize(run: SavedRun): SavedRunSummary {
  return {
    teacherName: run.teacher.name,
    teacherSource: run.teacher.source,
    teacherSha256: run.teacher.sha256,
    step: run.step,
    totalSteps: run.settings.steps,
    phase: run.phase,
    savedAt: run.savedAt,
    bytes: run.checkpoint.byteLength + (run.teacher.files?.reduce((n, f) => n + f.bytes.byteLength, 0) ?? 0),
  };
}

/** A light check of what came out of storage (an older version or a damaged record is not offered). */
export function isSavedRun(value: unknown): value is SavedRun {
  const v = value as SavedRun;
  return typeof v === 'object' && v !== null && v.version === SAVED_RUN_VERSION && typeof v.savedAt === 'number'
    && typeof v.teacher?.sha256 === 'string' && typeof v.settings?.steps === 'number' && Number.isInteger(v.step)
    && v.metrics instanceof Float64Array && Array.isArray(v.evals) && v.checkpoint instanceof Uint8Array;
}

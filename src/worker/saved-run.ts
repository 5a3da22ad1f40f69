/**
 * A distillation saved in the browser so that a reload, a closed tab or a lost GPU does not cost the run: the
 * checkpoint file (core/checkpoint.ts: weights, EMA, optimiser moments, step, RNG, fault counters, teacher sha256)
 * plus what the page needs to carry on showing the same run (settings, curves, the teacher or where to get it).
 * One slot: a new run replaces the saved one.
 */
import type { InputFile } from '../formats/model-file';
import { RUN_SETTING_KEYS, runSettingsProblems } from '../formats/run-settings';
import type { EvalPoint, MetricPoint, RunPhase, RunSettings, SavedRunSummary, TeacherSource, ViewSettings } from './protocol';

/** 2: settings are the settings table's (with lrFinal), the view apart, metrics with their lr. */
export const SAVED_RUN_VERSION = 2;

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
  view: ViewSettings;
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

const METRIC_FIELDS = 6;

/** Metric points as one flat array [step, loss, gradNorm, stepMs, time, lr] per point (cheap to clone and store). */
export function packMetrics(points: MetricPoint[]): Float64Array {
  const out = new Float64Array(points.length * METRIC_FIELDS);
  points.forEach((p, i) => out.set([p.step, p.loss, p.gradNorm, p.stepMs, p.time, p.lr], i * METRIC_FIELDS));
  return out;
}

/** `fields` 5: a version-1 record, without the lr (it was constant: `lr`). */
export function unpackMetrics(packed: Float64Array, fields = METRIC_FIELDS, lr = NaN): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (let i = 0; i + fields <= packed.length; i += fields) {
    out.push({ step: packed[i], loss: packed[i + 1], gradNorm: packed[i + 2], stepMs: packed[i + 3], time: packed[i + 4], lr: fields > 5 ? packed[i + 5] : lr });
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

/** A light check of what came out of storage (a damaged record is not offered). */
export function isSavedRun(value: unknown): value is SavedRun {
  const v = value as SavedRun;
  return typeof v === 'object' && v !== null && v.version === SAVED_RUN_VERSION && typeof v.savedAt === 'number'
    && typeof v.teacher?.sha256 === 'string' && runSettingsProblems(v.settings ?? {}).length === 0
    && Number.isInteger(v.view?.heunSteps) && Number.isInteger(v.step)
    && v.metrics instanceof Float64Array && Array.isArray(v.evals) && v.checkpoint instanceof Uint8Array;
}

/**
 * A stored record as this version reads it: version 2 as it is; version 1 (settings with the teacher's Heun steps
 * inside, a constant lr, metrics without their lr) brought up to date, so a run saved before an update is not lost.
 */
export function upgradeSavedRun(value: unknown): SavedRun | null {
  const v = value as { version?: number; settings?: Record<string, unknown>; metrics?: unknown };
  if (typeof v !== 'object' || v === null) return null;
  if (v.version === 1 && v.settings && typeof v.settings.lr === 'number' && v.metrics instanceof Float64Array) {
    const old = v.settings;
    const settings = Object.fromEntries(RUN_SETTING_KEYS.map((k) => [k, k === 'lrFinal' ? old.lrFinal ?? old.lr : old[k]])) as unknown as RunSettings;
    const metrics = packMetrics(unpackMetrics(v.metrics, 5, old.lr as number));
    const upgraded = { ...(v as object), version: SAVED_RUN_VERSION, settings, view: { heunSteps: old.heunSteps }, metrics };
    return isSavedRun(upgraded) ? upgraded : null;
  }
  return isSavedRun(value) ? value : null;
}

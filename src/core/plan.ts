/**
 * A run sized to the teacher and the machine: the "plan" layer of the settings' resolution, shared by the CLI and the
 * studio. From a short measurement of real PID steps of the teacher's network on the backend (StepCost, measured by
 * plan-probe.ts) it chooses the batch, the steps and the evaluation cadence for a time budget; and for any settings,
 * the micro-batch that fits the backend's memory, the memory that takes, and the time of a step and of the run.
 * Free of tfjs: the page imports it.
 */
import type { RunSettings } from '../formats/run-settings';

/** What one PID step costs on a backend, measured at one and two samples. */
export interface StepCost {
  backend: string;
  studentParameters: number;
  teacherParameters: number;
  /** Seconds of one step over m samples: secondsFixed (the update, a pass's launches) + secondsPerSample m. */
  secondsFixed: number;
  secondsPerSample: number;
  /** Live bytes of the run between steps: the teacher, the student, its optimiser moments, EMA and fault snapshot. */
  bytesState: number;
  /** Peak bytes above the state while the update runs (the flat gradient, the next weights and moments). */
  bytesUpdate: number;
  /** Peak bytes above the state while a pass of m samples runs (activations kept for the backward pass, gradients). */
  bytesPassFixed: number;
  bytesPerSample: number;
  /**
   * Not measured on real steps: the teacher is so large that its state alone exceeds the memory limit, so the cost
   * comes from its size and one timed forward pass (a step takes about STEP_FORWARDS of them per sample).
   */
  estimated?: boolean;
}

/**
 * Copies of the student's weights a run holds at its peak at least: the weights, two optimiser moments, the EMA and
 * its per-name views, the fault snapshot (weights, moments, EMA), and the update's flat temporaries (measured on wasm:
 * 8 copies between steps, 15 to 20 more while the update runs). Above the limit, a step is not even tried.
 */
const STATE_COPIES = 8;
const UPDATE_COPIES = 16;
/** A PID step per sample: forward and backward (about 3 forwards) over the pair (z, t), (z, t'), and the teacher once. */
export const STEP_FORWARDS = 7;

/** The bytes a run of this size takes before any activation: a floor, known before anything is allocated. */
export const stateFloorBytes = (studentParameters: number, teacherParameters: number): number =>
  4 * (teacherParameters + (STATE_COPIES + UPDATE_COPIES) * studentParameters);

/** The cost of a teacher too large to take a real step here, from its size and the time of one forward pass. */
export function estimatedCost(backend: string, studentParameters: number, teacherParameters: number, forwardSeconds: number): StepCost {
  return {
    backend, studentParameters, teacherParameters, secondsFixed: 0, secondsPerSample: STEP_FORWARDS * forwardSeconds,
    bytesState: 4 * (teacherParameters + STATE_COPIES * studentParameters), bytesUpdate: 4 * UPDATE_COPIES * studentParameters,
    bytesPassFixed: 0, bytesPerSample: 0, estimated: true,
  };
}

/** How much memory a run may take on a backend, and why. */
export interface MemoryLimit {
  bytes: number;
  why: string;
}

const GB = 1024 ** 3;

/**
 * wasm addresses at most 4 GB, and its allocator does not give memory back: tensors may take about half of it.
 * WebGPU says nothing of the device's memory (only of its largest buffer): a GPU's few GB are assumed; a software
 * adapter and the cpu backend live in the JavaScript heap.
 */
export function memoryLimitFor(backend: string, software = false): MemoryLimit {
  if (backend === 'wasm') return { bytes: 2 * GB, why: "half of wasm's 4 GB (its allocator keeps what it once took)" };
  if (backend === 'webgpu' && !software) return { bytes: 4 * GB, why: "4 GB of the GPU's memory (WebGPU does not say how much it has)" };
  return { bytes: 2 * GB, why: `2 GB of the JavaScript heap (${backend}${software ? ' on a software adapter' : ''})` };
}

/** Peak bytes of a step at micro-batch m: the state, and the larger of the update's and a pass's peak. */
export const runBytes = (cost: StepCost, micro: number): number =>
  cost.bytesState + Math.max(cost.bytesUpdate, cost.bytesPassFixed + micro * cost.bytesPerSample);

/**
 * The micro-batch of a batch: the largest number of samples per pass whose step fits the limit, then evened out so the
 * passes hold about as many samples each (32 as 4 x 8, not 3 x 10 + 2). At least 1, even when one sample does not fit.
 */
export function microBatchFor(cost: StepCost, limit: MemoryLimit, batch: number): number {
  const room = limit.bytes - cost.bytesState - cost.bytesPassFixed;
  const most = cost.bytesPerSample > 0 ? Math.floor(room / cost.bytesPerSample) : batch;
  const fit = Math.max(1, Math.min(batch, most));
  const passes = Math.ceil(batch / fit);
  return Math.ceil(batch / passes);
}

/** Seconds of one step of `batch` samples in passes of `micro`. */
export function stepSeconds(cost: StepCost, batch: number, micro: number): number {
  const passes = Math.ceil(batch / micro);
  return passes * cost.secondsFixed + batch * cost.secondsPerSample;
}

/** The time budget of the studio's and the CLI's default run: a first student in about 10 minutes. */
export const DEFAULT_BUDGET_SECONDS = 600;
/** Share of the budget the steps get (evaluations, the teacher's reference solution and the views take the rest). */
const TRAINING_SHARE = 0.8;
/** The first measured student, and its picture, within about a minute. */
const FIRST_EVALUATION_SECONDS = 60;
/** Fewer steps than this in the budget do not make a useful student: the plan says so. */
export const USEFUL_STEPS = 100;

/**
 * Batch of an image student per backend: the PID reference trains with 512 over 8 GPUs (micro-batch 32 for
 * ImageNet 64); a CPU takes a few dozen samples a step in reasonable time.
 */
function imageBatchFor(backend: string, software: boolean): number {
  return backend === 'webgpu' && !software ? 128 : backend === 'cpu' || software ? 8 : 32;
}

/** A round number of steps (two significant digits): 937 -> 940, 12345 -> 12000. */
export function roundSteps(n: number): number {
  if (n < 10) return Math.max(1, Math.round(n));
  const scale = 10 ** (Math.floor(Math.log10(n)) - 1);
  return Math.round(n / scale) * scale;
}

export interface PlanContext {
  cost: StepCost;
  limit: MemoryLimit;
  /** The teacher's data is an image (rank-3 shape): the plan sets batch, steps, cadence and lr; 2D data keeps the backend's. */
  image: boolean;
  software?: boolean;
  budgetSeconds?: number;
}

/**
 * The plan layer: batch, steps and evaluation cadence of an image teacher's run on this backend; nothing for 2D data.
 * The learning rate stays the preset's: Quick's 1e-2 decaying to 1e-3 also suits image students started from their
 * teacher (docs/measurements.md: it beat 2e-3 -> 2e-5 and lower schedules on the digits' UNets).
 */
export function planSettings(p: PlanContext): Partial<RunSettings> {
  if (!p.image) return {};
  const batch = imageBatchFor(p.cost.backend, p.software ?? false);
  const micro = microBatchFor(p.cost, p.limit, batch);
  const seconds = stepSeconds(p.cost, batch, micro);
  const steps = Math.max(10, roundSteps(((p.budgetSeconds ?? DEFAULT_BUDGET_SECONDS) * TRAINING_SHARE) / seconds));
  return { batch, steps, evalEvery: evaluationCadence(steps, seconds) };
}

/** Steps between evaluations: the first within about a minute, at least five in the run. */
export function evaluationCadence(steps: number, seconds: number): number {
  return Math.max(1, Math.min(roundSteps(FIRST_EVALUATION_SECONDS / seconds), Math.ceil(steps / 5)));
}

/** What a run of given settings will take here: shown before it starts, in the CLI and on the page. */
export interface RunShape {
  batch: number;
  microBatch: number;
  steps: number;
  bytes: number;
  limit: MemoryLimit;
  /** One sample per pass fits in the limit. */
  fits: boolean;
  stepSeconds: number;
  runSeconds: number;
  /** Why this run will not make a useful student here, and what to do instead; null when it will. */
  warning: string | null;
}

/** What a run of `s` takes here, in the micro-batch that fits (or the one asked for). */
export function runShape(cost: StepCost, limit: MemoryLimit, s: Pick<RunSettings, 'batch' | 'steps'>, budgetSeconds = DEFAULT_BUDGET_SECONDS, micro?: number): RunShape {
  const microBatch = micro !== undefined ? Math.min(micro, s.batch) : microBatchFor(cost, limit, s.batch);
  const bytes = runBytes(cost, microBatch);
  const fits = bytes <= limit.bytes;
  const seconds = stepSeconds(cost, s.batch, microBatch);
  let warning: string | null = null;
  if (!fits) {
    warning = `${cost.estimated ? 'its weights, optimiser state and update alone need' : 'one sample at a time needs'} about ${formatBytes(bytes)}, more than ${limit.why} allows, `
      + `and a step of batch ${s.batch} would take about ${formatSeconds(seconds)}: this teacher is too large for ${cost.backend} here. `
      + 'Distil it on a GPU (the studio on a machine with WebGPU), or with a smaller student network';
  } else if (seconds * USEFUL_STEPS > budgetSeconds) {
    warning = `one step of batch ${s.batch} takes about ${formatSeconds(seconds)} on ${cost.backend}: ${USEFUL_STEPS} steps take ${formatSeconds(seconds * USEFUL_STEPS)}, `
      + `and a useful student needs thousands. Distil it on a GPU (the studio on a machine with WebGPU); it runs here if you insist`;
  }
  return { batch: s.batch, microBatch, steps: s.steps, bytes, limit, fits, stepSeconds: seconds, runSeconds: seconds * s.steps, warning };
}

/** "batch 32 as 4 x 8, 900 steps, about 9 min here, 1.1 GB". */
export function describeRunShape(r: RunShape): string {
  const passes = Math.ceil(r.batch / r.microBatch);
  const batch = passes > 1 ? `batch ${r.batch} as ${passes} x ${r.microBatch}` : `batch ${r.batch}`;
  return `${batch}, ${r.steps} steps, about ${formatSeconds(r.runSeconds)} here, ${formatBytes(r.bytes)}`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= GB) return `${(bytes / GB).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

export function formatSeconds(s: number): string {
  if (s < 1) return `${Math.max(1, Math.round(s * 1000))} ms`;
  if (s < 90) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

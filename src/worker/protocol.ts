/**
 * The one message protocol between the page and the training worker. Both sides import these types; everything
 * that crosses is plain data (numbers, strings, typed arrays), never a tensor.
 *
 *   page ──WorkerCommand──> worker        worker ──WorkerEvent──> page
 */
import type { BackendName } from '../core/backend';
import type { TrajectoryError } from '../core/metrics';
import type { MemoryLimit, StepCost } from '../core/plan';
import { RUN_SETTING_KEYS, type RunSettings } from '../formats/run-settings';
import type { InputFile } from '../formats/model-file';
import type { PrecondType } from '../core/model-import';
import type { PrecondSpec } from '../formats/config';
import { SWEEP_COMMAND_TYPES, type SweepCommand, type SweepEvent } from './sweep-protocol';

export type BackendChoice = BackendName | 'auto';
export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'];

/** Everything that defines a run (the one settings table); the page keeps it in the URL so that a link reproduces the run. */
export type { RunSettings };

/** How the page draws the teacher, never part of a run: the teacher's Heun steps for the sample view (NFE = 2 * steps - 1). */
export interface ViewSettings {
  heunSteps: number;
}

/** What the page's settings panel holds: the run's settings and the view's. */
export type StudioSettings = RunSettings & ViewSettings;

export const runSettingsOf = (s: RunSettings): RunSettings =>
  Object.fromEntries(RUN_SETTING_KEYS.map((k) => [k, s[k]])) as unknown as RunSettings;

/** What the worker reports about the backend: the truth from tf.getBackend(), never an assumption. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The adapter says it is a fallback adapter (WebGPU's isFallbackAdapter). */
  isFallbackAdapter: boolean;
  /** A software rasteriser (SwiftShader, llvmpipe, ...) by the fallback flag or by name. */
  software: boolean;
}

export interface BackendInfo {
  asked: BackendChoice;
  /** tf.getBackend() after starting. */
  got: string;
  /** Why `got` is not the first backend tried (or not the one asked for). */
  fallbackReason?: string;
  /** Why "auto" chose `got` (a GPU, or wasm over a software adapter). */
  reason?: string;
  /** The WebGPU adapter navigator.gpu gave, when there was one. */
  adapter: AdapterReport | null;
  /** Why there is no adapter report (no navigator.gpu, requestAdapter gave null, ...). */
  adapterNote?: string;
  /** When `got` is wasm: its threads (1 unless the page is cross-origin isolated), and why one; words: core/wasm-threads.ts wasmThreadsLabel. */
  wasmThreads?: number;
  wasmThreadsReason?: string;
}

/** Where the teacher came from; dropped PyTorch state dicts carry the preconditioning chosen for them (absent: the file's, or edm). */
export type TeacherSource = { kind: 'builtin'; id: string } | { kind: 'files'; names: string[]; precond?: PrecondType };

export interface TeacherInfo {
  source: TeacherSource;
  name: string;
  fileName: string;
  networkType: string;
  /** The architecture in words: "EDM SongUNet (DDPM++)", "unet", "Gaussian mixture". */
  architecture: string;
  /** Classes of a class-conditional teacher (0: unconditional). */
  labelDim: number;
  /** The preconditioning, and whether it was assumed (a bare state dict cannot say which it was trained with). */
  precond: PrecondSpec['type'];
  precondAssumed: boolean;
  /** A bare state dict: its preconditioning may be chosen (a diffusers folder's comes from its scheduler). */
  precondChoosable: boolean;
  /** The noise levels the network was trained on when they clip EDM's sampling range (VP, VE, DDPM), else null. */
  trainedSigmas: [number, number] | null;
  /** For a PyTorch or safetensors state dict: which weights were taken ('state dict', 'ema', 'model'); an EDM snapshot's in words. */
  weightsTaken: string | null;
  /** Where the file said its preconditioning: "the snapshot's VPPrecond" for an EDM snapshot; absent otherwise. */
  precondFrom?: string;
  /** Learned parameters; null for an analytic teacher. */
  parameterCount: number | null;
  /** Mixture components of an analytic teacher. */
  components: number | null;
  /** The network's hyper-parameters as `key: value` pairs (hidden, blocks, ...). */
  networkDetails: [string, string][];
  dataShape: number[];
  dataRange: [number, number];
  sigmaMin: number;
  sigmaMax: number;
  sigmaData: number;
  rho: number;
  sha256: string;
}

/** How the sample view draws a data shape: points in the plane, an image grid, or (for now) nothing. */
export type ViewKind =
  | { kind: 'points2d' }
  | { kind: 'images'; height: number; width: number; channels: number }
  | { kind: 'none'; reason: string };

/** The teacher's side of the sample view, computed once per teacher and Heun step count. */
export interface TeacherView {
  view: ViewKind;
  dataShape: number[];
  dataRange: [number, number];
  /** Samples of the teacher ODE (Heun) from the fixed sample noise, row-major [count, ...dataShape]. */
  samples: Float32Array;
  count: number;
  heunSteps: number;
  nfe: number;
  /** Teacher ODE paths for the first `pathCount` validation noises, [times, pathCount, D] (points2d only). */
  paths: Float32Array | null;
  pathCount: number;
  /** Times of the paths, descending from sigma_max to sigma_min. */
  times: number[];
  sigmaData: number;
}

/** The student's side: one-step samples from the same noise, its paths x_theta(z, t), its trajectory error. */
export interface StudentView {
  source: 'training' | 'opened';
  step: number;
  /** Which weights were evaluated: the EMA (what a download holds) or the raw training weights. */
  weights: 'ema' | 'raw';
  dataShape: number[];
  dataRange: [number, number];
  samples: Float32Array;
  count: number;
  paths: Float32Array | null;
  /** Against the loaded teacher's ODE on the fixed validation noise; null when there is no comparable teacher. */
  error: TrajectoryError | null;
}

export interface MetricPoint {
  step: number;
  loss: number;
  gradNorm: number;
  stepMs: number;
  /** Milliseconds since the run started, when the step ended. */
  time: number;
  /** The learning rate the step was taken with (the schedule's, halved by fault restores). */
  lr: number;
}

export interface EvalPoint {
  step: number;
  /** Trajectory error of the raw training weights. */
  raw: TrajectoryError;
  /** Of the EMA weights (equal to raw when no EMA is kept). */
  ema: TrajectoryError;
}

export type RunPhase = 'idle' | 'training' | 'paused' | 'stopped' | 'done' | 'failed';

export interface RunStatus {
  phase: RunPhase;
  step: number;
  totalSteps: number;
  /** The settings the run was started with. */
  settings: RunSettings | null;
  /** Why a run failed (a diverged loss, an error in a step). */
  message?: string;
  /** The trainer's fault handling: steps skipped for a non-finite loss, restores of the last good state, lr factor. */
  faults?: { skippedSteps: number; restores: number; lrFactor: number };
  /** Samples per forward and backward pass when the batch is split to fit the memory (absent: the whole batch). */
  microBatch?: number;
  /** The failure killed the backend (wasm out of memory or aborted): the page starts a new worker. */
  backendLost?: boolean;
}

export interface OpenedStudentInfo {
  fileName: string;
  name: string;
  /** The teacher and settings of a pid-studio student file; null for a bare network read as a PID student (the PID reference's ema_*.pt), which records neither. */
  teacherName: string | null;
  teacherSha256: string | null;
  /** The loaded teacher is the one this student was distilled from (same sha256). */
  matchesTeacher: boolean;
  networkType: string;
  parameterCount: number;
  dataShape: number[];
  pid: { N: number; loss: string; optimizer: string; lr: number; lr_final?: number; batch: number; steps: number; ema: number; seed: number } | null;
  /** A bare network read as a PID student: its preconditioning (what c_in and c_noise are) and where that came from. */
  bare?: { format: string; precond: string; precondFrom: string };
}

/** The run saved in this browser (IndexedDB), as the page offers it after a reload. */
export interface SavedRunSummary {
  teacherName: string;
  teacherSource: TeacherSource;
  teacherSha256: string;
  step: number;
  totalSteps: number;
  /** The run's phase when it was saved ('training': the page went away mid-run). */
  phase: RunPhase;
  /** Date.now() at the save. */
  savedAt: number;
  /** Bytes stored (checkpoint, plus a dropped teacher's files). */
  bytes: number;
}

/** The last checkpoint of the current run. */
export interface CheckpointStatus {
  step: number;
  /** Date.now() when it was taken. */
  savedAt: number;
  bytes: number;
  /** Milliseconds the training loop waited for it (reading the state back from the device, serialising). */
  pauseMs: number;
  /** Written to IndexedDB; false when only the in-memory copy exists (storage refused it, see `storageError`). */
  stored: boolean;
  storageError?: string;
}

/** tf.memory() in the worker: tensors alive, their bytes, and on WebGPU the GPU buffers (in use and pooled). */
export interface MemoryReport {
  numTensors: number;
  numBytes: number;
  gpuBytes?: number;
  gpuBytesAllocated?: number;
}

export type ErrorScope = 'backend' | 'teacher' | 'training' | 'export' | 'student' | 'protocol' | 'saved-run' | 'sweep';

export type WorkerCommand =
  /** `checkpointSeconds`: how often a running distillation is saved (also on pause, stop and at the end). */
  | { type: 'init'; backend: BackendChoice; checkpointSeconds?: number }
  | { type: 'load-teacher'; source: { kind: 'builtin'; id: string; url: string } | { kind: 'files'; files: InputFile[]; precond?: PrecondType } }
  /** The class the sample grids show (null: every class in turn), for class-conditional teachers. */
  | { type: 'sample-class'; classIndex: number | null }
  /** The view changed: the worker recomputes the teacher view when heunSteps changed. */
  | { type: 'configure'; view: ViewSettings }
  /** `from: 'opened-student'` continues from the student last opened (it must be of the loaded teacher). */
  | { type: 'start'; settings: RunSettings; view: ViewSettings; from?: 'opened-student' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  /** Measure the trajectory error and send a sample snapshot now. */
  | { type: 'sample' }
  | { type: 'export-student'; requestId: number; format?: 'safetensors' | 'pytorch' }
  /** "Run on your GPUs": the loaded teacher and these settings as a zip of a run folder for torchrun (run-zip.ts). */
  | { type: 'export-run'; requestId: number; settings: RunSettings }
  | { type: 'open-student'; source: { kind: 'files'; files: InputFile[] } | { kind: 'builtin'; id: string; url: string }; requestId: number }
  /** Continue the saved run: its teacher is loaded again (a built-in one from `teacherUrl`) and checked by sha256. */
  | { type: 'resume-saved'; teacherUrl: string | null }
  | { type: 'discard-saved' }
  /** Checkpoint the running distillation now (the page is being hidden: a tab switch, a sleeping laptop, a close). */
  | { type: 'save-now' }
  /** Destroys the WebGPU device as a GPU reset would (for the e2e test of the recovery; the page never sends it). */
  | { type: 'simulate-device-loss' }
  /** Tests: the next training step fails as wasm does when it aborts ("Aborted()"), which ends the backend's use. */
  | { type: 'simulate-backend-failure' }
  /** One distillation per value of one setting (sweep-protocol.ts). */
  | SweepCommand;

export type WorkerEvent =
  | { type: 'backend'; backend: BackendInfo }
  | { type: 'teacher-loading'; source: TeacherSource }
  | { type: 'teacher'; teacher: TeacherInfo }
  | { type: 'teacher-view'; view: TeacherView }
  | { type: 'run'; run: RunStatus }
  /** Step metrics, batched (the worker sends at most about ten of these a second). */
  | { type: 'metrics'; points: MetricPoint[]; memory: MemoryReport }
  /** The curves of a run restored from a checkpoint (replace what the page shows). */
  | { type: 'history'; metrics: MetricPoint[]; evals: EvalPoint[] }
  | { type: 'saved-run'; saved: SavedRunSummary | null }
  | { type: 'checkpoint'; checkpoint: CheckpointStatus }
  /** Something the user should know that is not an error (the GPU was lost and the run recovered). */
  | { type: 'notice'; message: string }
  | { type: 'evaluation'; point: EvalPoint; view: StudentView }
  | { type: 'student-file'; requestId: number; fileName: string; bytes: Uint8Array }
  | { type: 'run-zip'; requestId: number; fileName: string; bytes: Uint8Array }
  | { type: 'opened-student'; requestId: number; student: OpenedStudentInfo; view: StudentView }
  | { type: 'busy'; task: string | null }
  /** What a PID step of the loaded image teacher costs on this backend, and the memory limit (null: a 2D teacher, no plan). */
  | { type: 'plan-cost'; cost: StepCost | null; limit: MemoryLimit | null }
  /** The teacher's picture being solved (Heun steps done of all), which Start does not wait for; null when finished or given up. */
  | { type: 'view-progress'; task: string | null }
  | { type: 'error'; scope: ErrorScope; message: string; requestId?: number }
  | SweepEvent;

/** How the worker's controller sends an event (postMessage in the worker, a function in tests). */
export type Emit = (event: WorkerEvent, transfer?: Transferable[]) => void;

const COMMAND_TYPES = new Set<WorkerCommand['type']>([
  'init', 'load-teacher', 'sample-class', 'configure', 'start', 'pause', 'resume', 'stop', 'sample', 'export-student', 'export-run', 'open-student',
  'resume-saved', 'discard-saved', 'save-now', 'simulate-device-loss', 'simulate-backend-failure', ...SWEEP_COMMAND_TYPES,
]);

/** A light structural check of what arrives at the worker (a message from a stale or foreign sender is refused). */
export function isWorkerCommand(value: unknown): value is WorkerCommand {
  return typeof value === 'object' && value !== null && COMMAND_TYPES.has((value as { type: WorkerCommand['type'] }).type);
}

/** Sizes of the fixed noise batches behind the sample view and the trajectory error, by data dimension. */
/**
 * How many fixed noises the views and the validation use, and the reference's Karras points: fewer for a network
 * above LARGE_NETWORK parameters (EDM's CIFAR-10 DDPM++ has 55.7M), whose every evaluation takes seconds on a CPU.
 */
export function viewSizes(dim: number, parameters = 0): { samples: number; validation: number; paths: number; referenceSteps: number } {
  if (dim <= 16) return { samples: 512, validation: 128, paths: 8, referenceSteps: 32 };
  return parameters > LARGE_NETWORK ? { samples: 4, validation: 4, paths: 0, referenceSteps: 12 } : { samples: 16, validation: 16, paths: 0, referenceSteps: 32 };
}
export const LARGE_NETWORK = 5_000_000;

/** The sample view a data shape gets: [2] -> points, HWC with 1 or 3 channels -> an image grid. */
export function viewKindOf(shape: number[]): ViewKind {
  if (shape.length === 1 && shape[0] === 2) return { kind: 'points2d' };
  if (shape.length === 3 && (shape[2] === 1 || shape[2] === 3)) return { kind: 'images', height: shape[0], width: shape[1], channels: shape[2] };
  return { kind: 'none', reason: `no sample view for data of shape [${shape.join(', ')}] (2D points [2] and images [H, W, 1 or 3] are drawn)` };
}

/** Seeds of the fixed noise batches: independent of the run's seed, so views compare across runs. */
export const SAMPLE_NOISE_SEED = 20240501;
export const VALIDATION_NOISE_SEED = 20240502;

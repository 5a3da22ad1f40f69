/**
 * The run settings the page offers: the paper's defaults (pid-method.md §3), the batch and step count that suit
 * the backend that runs, a hint for each, and validation of what the user (or a URL) typed.
 */
import { LOSS_NAMES, OPTIMIZER_NAMES, PID_DEFAULTS } from '../core/pid-settings';
import type { BackendInfo, RunSettings } from '../worker/protocol';

export type SettingKey = keyof RunSettings;

interface Base { key: SettingKey; label: string; hint: string }
export type SettingSpec =
  | (Base & { kind: 'int'; min: number; max: number })
  | (Base & { kind: 'number'; min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean })
  | (Base & { kind: 'choice'; options: readonly string[] });

export const SETTING_SPECS: SettingSpec[] = [
  { key: 'N', label: 'Grid points N', kind: 'int', min: 2, max: 100000,
    hint: 'Karras grid points the ODE residual is taken on; the paper uses 250, and quality improves as N grows.' },
  { key: 'loss', label: 'Loss', kind: 'choice', options: LOSS_NAMES,
    hint: 'Distance d between y - t·dy/dt and the teacher D(y, t). The paper uses LPIPS for images; l2 for points.' },
  { key: 'optimizer', label: 'Optimizer', kind: 'choice', options: OPTIMIZER_NAMES,
    hint: 'RAdam as in the reference code (no weight decay); Adam for comparison.' },
  { key: 'lr', label: 'Learning rate', kind: 'number', min: 0, max: 1, minExclusive: true,
    hint: 'The paper: 2e-4 (CIFAR-10), 1e-4 (ImageNet 64). Lower it if the loss diverges.' },
  { key: 'ema', label: 'EMA rate', kind: 'number', min: 0, max: 1, maxExclusive: true,
    hint: 'Moving average of the student weights (0.999 in the paper, warmed up); the downloaded student holds it. 0: none.' },
  { key: 'batch', label: 'Batch', kind: 'int', min: 1, max: 65536,
    hint: 'Noise samples z per step. The default suits the backend that runs; a real GPU takes thousands.' },
  { key: 'steps', label: 'Steps', kind: 'int', min: 1, max: 10_000_000,
    hint: 'Training steps of the run. The default suits the backend; pause or stop at any time.' },
  { key: 'seed', label: 'Seed', kind: 'int', min: 0, max: 2 ** 32 - 1,
    hint: 'Seeds the training noise and grid times: the same seed and settings give the same run.' },
  { key: 'evalEvery', label: 'Evaluate every K steps', kind: 'int', min: 1, max: 1_000_000,
    hint: 'How often the worker measures the trajectory error on fixed validation noise and redraws the samples.' },
  { key: 'heunSteps', label: 'Teacher Heun steps', kind: 'int', min: 2, max: 1000,
    hint: 'Steps of the teacher ODE sampler shown for comparison (EDM: 18, i.e. 35 NFE; NFE = 2·steps − 1).' },
];

export const SETTING_KEYS: SettingKey[] = SETTING_SPECS.map((s) => s.key);
export const specOf = (key: SettingKey): SettingSpec => SETTING_SPECS.find((s) => s.key === key)!;

/** Batch, steps and evaluation interval by backend: a real GPU takes large batches; software adapters and cpu small ones. */
export interface BackendSizing { batch: number; steps: number; evalEvery: number; why: string }

export function sizingFor(backend: BackendInfo | null): BackendSizing {
  const got = backend?.got;
  if (got === 'webgpu') {
    return backend?.adapter?.software
      ? { batch: 32, steps: 200, evalEvery: 20, why: 'WebGPU on a software adapter (no GPU): small batch' }
      : { batch: 512, steps: 5000, evalEvery: 250, why: 'WebGPU on a GPU' };
  }
  if (got === 'webgl') return { batch: 256, steps: 2000, evalEvery: 100, why: 'WebGL' };
  if (got === 'wasm') return { batch: 128, steps: 1000, evalEvery: 50, why: 'wasm (CPU, SIMD)' };
  if (got === 'cpu') return { batch: 32, steps: 200, evalEvery: 20, why: 'plain JavaScript cpu backend' };
  return { batch: PID_DEFAULTS.batch, steps: 1000, evalEvery: 50, why: 'backend not known yet' };
}

export function defaultSettings(backend: BackendInfo | null = null): RunSettings {
  const s = sizingFor(backend);
  return {
    N: PID_DEFAULTS.N,
    loss: PID_DEFAULTS.loss,
    optimizer: PID_DEFAULTS.optimizer,
    lr: PID_DEFAULTS.lr,
    ema: PID_DEFAULTS.ema,
    batch: s.batch,
    steps: s.steps,
    seed: PID_DEFAULTS.seed,
    evalEvery: s.evalEvery,
    heunSteps: 18,
  };
}

/** The keys the backend decides unless the user (or the URL) set them. */
export const BACKEND_SIZED: SettingKey[] = ['batch', 'steps', 'evalEvery'];

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses one setting from text; the error says what is allowed. */
export function parseSetting<K extends SettingKey>(key: K, raw: string): Parsed<RunSettings[K]> {
  const spec = specOf(key);
  const text = raw.trim();
  if (spec.kind === 'choice') {
    return spec.options.includes(text)
      ? { ok: true, value: text as RunSettings[K] }
      : { ok: false, error: `${spec.label} must be one of ${spec.options.join(', ')}` };
  }
  const n = text === '' ? NaN : Number(text);
  if (!Number.isFinite(n)) return { ok: false, error: `${spec.label} must be a number` };
  if (spec.kind === 'int') {
    if (!Number.isInteger(n)) return { ok: false, error: `${spec.label} must be a whole number` };
    if (n < spec.min || n > spec.max) return { ok: false, error: `${spec.label} must be between ${spec.min} and ${spec.max}` };
    return { ok: true, value: n as RunSettings[K] };
  }
  const lowOk = spec.minExclusive ? n > spec.min : n >= spec.min;
  const highOk = spec.maxExclusive ? n < spec.max : n <= spec.max;
  if (!lowOk || !highOk) {
    const lo = spec.minExclusive ? `greater than ${spec.min}` : `at least ${spec.min}`;
    const hi = spec.maxExclusive ? `less than ${spec.max}` : `at most ${spec.max}`;
    return { ok: false, error: `${spec.label} must be ${lo} and ${hi}` };
  }
  return { ok: true, value: n as RunSettings[K] };
}

/** Problems of a whole settings object that single fields cannot show. */
export function crossCheck(s: RunSettings): string[] {
  const out: string[] = [];
  if (s.evalEvery > s.steps) out.push(`Evaluate every K steps (${s.evalEvery}) is more than the run's steps (${s.steps}): the curves show only the start and the end`);
  return out;
}

export function formatSetting(key: SettingKey, value: RunSettings[SettingKey]): string {
  if (typeof value === 'number' && key === 'lr' && value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e4)) {
    return value.toExponential().replace('e+', 'e');
  }
  return String(value);
}

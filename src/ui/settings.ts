/**
 * The settings the page offers: the run settings of the one settings table (formats/run-settings.ts) and the view's
 * Heun steps, resolved in layers: what the user (or the URL) set, then a built-in teacher's recommendation, then the
 * plan for the teacher on this machine (core/plan.ts), then the backend's batch and step count, then the preset.
 */
import {
  PRESETS, type PresetId, RUN_DEFAULTS, RUN_SETTING_SPECS, type RunSettingSpec, type RunSettings, parseRunSetting,
} from '../formats/run-settings';
import type { BackendInfo, StudioSettings } from '../worker/protocol';

export type SettingKey = keyof StudioSettings;

const HEUN_SPEC = {
  key: 'heunSteps', label: 'Teacher Heun steps', kind: 'int', min: 2, max: 1000,
  hint: 'Steps of the teacher ODE sampler drawn for comparison (EDM: 18, i.e. 35 NFE; NFE = 2·steps − 1). The picture only, not the run.',
} as const;

type Distribute<T> = T extends RunSettingSpec ? Omit<T, 'flag' | 'fileKey'> : never;
export type SettingSpec = Distribute<RunSettingSpec> | typeof HEUN_SPEC;

export const SETTING_SPECS: SettingSpec[] = [...RUN_SETTING_SPECS, HEUN_SPEC];
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
  if (got === 'wasm') return { batch: 256, steps: 3000, evalEvery: 300, why: 'wasm (CPU, SIMD)' };
  if (got === 'cpu') return { batch: 32, steps: 200, evalEvery: 20, why: 'plain JavaScript cpu backend' };
  return { batch: RUN_DEFAULTS.batch, steps: 3000, evalEvery: 300, why: 'backend not known yet' };
}

/** The keys the backend decides unless the user, the URL or the teacher set them. */
export const BACKEND_SIZED: SettingKey[] = ['batch', 'steps', 'evalEvery'];

/** What decides the settings the user did not set. */
export interface SettingLayers {
  preset: PresetId;
  backend: BackendInfo | null;
  /** The run sized to the loaded image teacher on this machine (core/plan.ts): batch, steps, evaluation cadence. */
  plan?: Partial<RunSettings> | null;
  /** A built-in teacher's recommended settings (its entry in public/teachers/index.json). */
  recommended?: Partial<RunSettings> | null;
}

/**
 * The value of every setting nobody set explicitly: a built-in teacher's recommendation, the plan for the teacher on
 * this machine, the backend's size, the preset.
 */
export function layeredDefaults({ preset, backend, recommended, plan }: SettingLayers): StudioSettings {
  const sizing = sizingFor(backend);
  return {
    ...RUN_DEFAULTS,
    ...PRESETS[preset].values,
    batch: sizing.batch,
    steps: sizing.steps,
    evalEvery: sizing.evalEvery,
    ...(plan ?? {}),
    ...(recommended ?? {}),
    heunSteps: 18,
  };
}

export function defaultSettings(backend: BackendInfo | null = null): StudioSettings {
  return layeredDefaults({ preset: 'quick', backend });
}

/** `settings` with every key not in `explicit` taken from the layers. */
export function resolveSettings(settings: StudioSettings, explicit: SettingKey[], layers: SettingLayers): StudioSettings {
  const defaults = layeredDefaults(layers);
  const next = { ...defaults };
  for (const key of explicit) (next as Record<string, unknown>)[key] = settings[key];
  return next;
}

/** The preset whose values the settings hold (null: changed by hand). */
export function presetMatching(settings: StudioSettings): PresetId | null {
  for (const p of Object.values(PRESETS)) {
    if (Object.entries(p.values).every(([k, v]) => settings[k as SettingKey] === v)) return p.id;
  }
  return null;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses one setting from text; the error says what is allowed. */
export function parseSetting<K extends SettingKey>(key: K, raw: string): Parsed<StudioSettings[K]> {
  if (key === 'heunSteps') {
    const text = raw.trim();
    const n = text === '' ? NaN : Number(text);
    if (!Number.isInteger(n)) return { ok: false, error: `${HEUN_SPEC.label} must be a whole number` };
    if (n < HEUN_SPEC.min || n > HEUN_SPEC.max) return { ok: false, error: `${HEUN_SPEC.label} must be between ${HEUN_SPEC.min} and ${HEUN_SPEC.max}` };
    return { ok: true, value: n as StudioSettings[K] };
  }
  return parseRunSetting(key as keyof RunSettings, raw) as Parsed<StudioSettings[K]>;
}

/** Problems of a whole settings object that single fields cannot show. */
export function crossCheck(s: StudioSettings): string[] {
  const out: string[] = [];
  if (s.evalEvery > s.steps) out.push(`Evaluate every K steps (${s.evalEvery}) is more than the run's steps (${s.steps}): the curves show only the start and the end`);
  if (s.lrFinal > s.lr) out.push(`The final learning rate (${formatSetting('lrFinal', s.lrFinal)}) is above the first (${formatSetting('lr', s.lr)}): the learning rate grows during the run`);
  return out;
}

export function formatSetting(key: SettingKey, value: StudioSettings[SettingKey]): string {
  if (typeof value === 'number' && (key === 'lr' || key === 'lrFinal') && value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e4)) {
    return value.toExponential().replace('e+', 'e');
  }
  return String(value);
}

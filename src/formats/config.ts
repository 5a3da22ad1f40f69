/**
 * The `pid_studio` config (docs: formats.md): types, validation with one-line errors naming the field path,
 * and defaults. The `network` section is parsed by its type's record in network-types.ts.
 */
import { LOSS_NAMES, OPTIMIZER_NAMES, RUN_SETTING_SPECS } from './run-settings';
import { ModelFileError } from './errors.ts';
import { type DataSpec, type Obj, POSITIVE, Section, isCount, isFiniteNum, isObject, isPositive, isPositiveInt, oneOf } from './config-section.ts';
import { type NetworkSpec, NETWORK_TYPES, parseNetwork } from './network-types.ts';

export interface EdmSettings { sigma_data: number; sigma_min: number; sigma_max: number; rho: number }
/** label_dim > 0: a class-conditional model, fed one-hot class labels [B, label_dim] (absent = 0, unconditional). */
export type { DataSpec } from './config-section.ts';
export type { NetworkSpec } from './network-types.ts';
/** How the network is wrapped into a denoiser (Karras et al. 2022, Table 1); absent = edm. */
export type PrecondSpec =
  | { type: 'edm' }
  | { type: 'vp'; beta_d: number; beta_min: number; M: number; epsilon_t: number }
  | { type: 've'; sigma_min: number; sigma_max: number }
  /** A DDPM epsilon-prediction model under diffusers' DDPMScheduler (its scheduler_config.json fields). */
  | { type: 'ddpm-eps'; num_train_timesteps: number; beta_start: number; beta_end: number; beta_schedule: DdpmBetaSchedule };
export type DdpmBetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
/** Where the weights came from when they were imported from PyTorch: the key prefix stripped on reading (e.g. "model."). */
export interface PytorchSource { prefix: string }
export interface StudentSection {
  parametrization: 'pid';
  teacher: { name: string; sha256: string };
  pid: { N: number; loss: 'l2' | 'l1' | 'pseudo-huber'; optimizer: 'radam' | 'adam'; lr: number; batch: number; steps: number; ema: number; seed: number;
    /** Extension: the run decayed lr exponentially to lr_final (absent: constant lr, as in the paper). */
    lr_final?: number };
}
export interface PidStudioConfig {
  format: 'pid-studio/1';
  role: 'teacher' | 'student';
  name: string;
  data: DataSpec;
  edm: EdmSettings;
  network: NetworkSpec;
  precond?: PrecondSpec;
  pytorch?: PytorchSource;
  student?: StudentSection;
}

export const CONFIG_FORMAT = 'pid-studio/1';
export const DEFAULT_EDM: EdmSettings = { sigma_data: 0.5, sigma_min: 0.002, sigma_max: 80, rho: 7 };
export const PRECOND_DEFAULTS = {
  vp: { beta_d: 19.9, beta_min: 0.1, M: 1000, epsilon_t: 1e-5 },
  ve: { sigma_min: 0.02, sigma_max: 100 },
} as const;
export const PRECOND_TYPES = ['edm', 'vp', 've', 'ddpm-eps'] as const;
/** DDPMScheduler's defaults (used when a diffusers folder has no scheduler_config.json). */
export const DDPM_DEFAULTS = { num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' as DdpmBetaSchedule };
export const DDPM_BETA_SCHEDULES: DdpmBetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

function parsePrecond(s: Section): PrecondSpec {
  const type = s.get<PrecondSpec['type']>('type', oneOf(...PRECOND_TYPES), `one of ${PRECOND_TYPES.map((t) => `"${t}"`).join(', ')}`);
  if (type === 'edm') {
    new Section(s.file, s.path, s.o, ['type']);
    return { type };
  }
  if (type === 'ddpm-eps') {
    new Section(s.file, s.path, s.o, ['type', ...Object.keys(DDPM_DEFAULTS)]);
    const pick = <T>(key: keyof typeof DDPM_DEFAULTS, test: (v: unknown) => boolean, must: string): T =>
      (key in s.o ? s.get<T>(key, test, must) : DDPM_DEFAULTS[key]) as T;
    const p = {
      type,
      num_train_timesteps: pick<number>('num_train_timesteps', (v) => isPositiveInt(v) && (v as number) >= 2, 'an integer >= 2'),
      beta_start: pick<number>('beta_start', (v) => isPositive(v) && (v as number) < 1, 'a number in (0, 1)'),
      beta_end: pick<number>('beta_end', (v) => isPositive(v) && (v as number) < 1, 'a number in (0, 1)'),
      beta_schedule: pick<DdpmBetaSchedule>('beta_schedule', oneOf(...DDPM_BETA_SCHEDULES), `one of ${DDPM_BETA_SCHEDULES.map((b) => `"${b}"`).join(', ')}`),
    };
    return p;
  }
  const defaults: Record<string, number> = PRECOND_DEFAULTS[type];
  new Section(s.file, s.path, s.o, ['type', ...Object.keys(defaults)]);
  const values: Record<string, number> = {};
  for (const [key, d] of Object.entries(defaults)) {
    values[key] = key in s.o ? s.get<number>(key, key === 'M' ? isPositiveInt : isPositive, key === 'M' ? 'a positive integer' : POSITIVE) : d;
  }
  if (type === 've' && !(values.sigma_min < values.sigma_max)) s.fail('sigma_min', 'smaller than precond.sigma_max', values.sigma_min);
  return { type, ...values } as PrecondSpec;
}

function parseData(s: Section): DataSpec {
  const shape = s.get<number[]>('shape', (v) => Array.isArray(v) && v.length > 0 && v.every(isPositiveInt)
    && Number.isSafeInteger(v.reduce((a: number, b: number) => a * b, 1)), 'a non-empty array of positive integers, e.g. [2] or [28, 28, 1]');
  const range = s.get<[number, number]>('range', (v) => Array.isArray(v) && v.length === 2 && v.every(isFiniteNum) && v[0] < v[1],
    'two finite numbers [lo, hi] with lo < hi');
  const labelDim = s.o.label_dim === undefined ? 0 : s.get<number>('label_dim', isCount, 'a non-negative integer (the number of classes; 0 = unconditional)');
  return { shape: [...shape], range: [range[0], range[1]], ...(labelDim > 0 ? { label_dim: labelDim } : {}) };
}

function parseEdm(s: Section): EdmSettings {
  const sigma_data = s.get<number>('sigma_data', isPositive, POSITIVE);
  const sigma_max = s.get<number>('sigma_max', isPositive, POSITIVE);
  const sigma_min = s.get<number>('sigma_min', (v) => isPositive(v) && (v as number) < sigma_max, `a positive number smaller than edm.sigma_max`);
  const rho = s.get<number>('rho', isPositive, POSITIVE);
  return { sigma_data, sigma_min, sigma_max, rho };
}

function parseStudent(s: Section): StudentSection {
  s.get('parametrization', oneOf('pid'), '"pid"');
  const t = s.section('teacher', ['name', 'sha256']);
  const name = t.get<string>('name', (v) => typeof v === 'string' && v.trim() !== '', 'a non-empty string');
  const sha256 = t.get<string>('sha256', (v) => typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v),
    '64 hex digits (the SHA-256 of the teacher file)').toLowerCase();
  // The keys and choices come from the settings table; the bounds are the file format's (a file may hold any
  // positive lr, and step 0), wider than what the CLI and the studio accept for a new run.
  const p = s.section('pid', RUN_SETTING_SPECS.flatMap((x) => (x.fileKey ? [x.fileKey] : [])));
  return {
    parametrization: 'pid',
    teacher: { name, sha256 },
    pid: {
      N: p.get('N', (v) => Number.isSafeInteger(v) && (v as number) >= 2, 'an integer >= 2'),
      loss: p.get('loss', oneOf(...LOSS_NAMES), `one of ${LOSS_NAMES.map((n) => `"${n}"`).join(', ')}`),
      optimizer: p.get('optimizer', oneOf(...OPTIMIZER_NAMES), `one of ${OPTIMIZER_NAMES.map((n) => `"${n}"`).join(', ')}`),
      lr: p.get('lr', isPositive, POSITIVE),
      batch: p.get('batch', isPositiveInt, 'a positive integer'),
      steps: p.get('steps', isCount, 'a non-negative integer'),
      ema: p.get('ema', (v) => isFiniteNum(v) && v >= 0 && v < 1, 'a number in [0, 1)'),
      seed: p.get('seed', isCount, 'a non-negative integer'),
      ...(p.o.lr_final !== undefined ? { lr_final: p.get<number>('lr_final', isPositive, POSITIVE) } : {}),
    },
  };
}

/** Validates a parsed config JSON value and returns a normalised copy (defaults filled, mixture weights summing to 1). */
export function parseConfig(value: unknown, fileName: string): PidStudioConfig {
  if (!isObject(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new ModelFileError(fileName, `the pid-studio config must be a JSON object (got ${got})`, 'write it as {"format": "pid-studio/1", ...}');
  }
  const s = new Section(fileName, '', value, ['format', 'role', 'name', 'data', 'edm', 'network', 'precond', 'pytorch', 'student']);
  s.get('format', (v) => v === CONFIG_FORMAT, `"${CONFIG_FORMAT}"`, `set "format": "${CONFIG_FORMAT}" (this version reads only that format)`);
  const role = s.get<'teacher' | 'student'>('role', oneOf('teacher', 'student'), '"teacher" or "student"');
  const name = s.get<string>('name', (v) => typeof v === 'string' && v.trim() !== '', 'a non-empty string');
  const data = parseData(s.section('data', ['shape', 'range', 'label_dim']));
  const edm = value.edm === undefined ? { ...DEFAULT_EDM } : parseEdm(s.section('edm', ['sigma_data', 'sigma_min', 'sigma_max', 'rho']));

  const net = s.get<Obj>('network', isObject, `an object {"type": ...} (types: ${NETWORK_TYPES.join(', ')})`);
  const network = parseNetwork(net, fileName, data);

  const config: PidStudioConfig = { format: CONFIG_FORMAT, role, name, data, edm, network };
  if (value.precond !== undefined) {
    config.precond = parsePrecond(s.section('precond', ['type', 'beta_d', 'beta_min', 'M', 'epsilon_t', 'sigma_min', 'sigma_max', ...Object.keys(DDPM_DEFAULTS)]));
  }
  if (value.pytorch !== undefined) {
    const p = s.section('pytorch', ['prefix']);
    config.pytorch = { prefix: p.get<string>('prefix', (v) => typeof v === 'string' && /^([A-Za-z_][A-Za-z0-9_]*\.)*$/.test(v), 'a key prefix such as "" or "model." (names joined by dots, ending in a dot)') };
  }
  if (role === 'student') {
    if (value.student === undefined) s.fail('student', 'is missing; a student model must record how it was distilled', undefined, 'add the "student" section (see formats.md)');
    config.student = parseStudent(s.section('student', ['parametrization', 'teacher', 'pid']));
  } else if (value.student !== undefined) {
    s.fail('student', 'is only allowed when role is "student"', undefined, 'remove it, or set "role": "student"');
  }
  return config;
}

/** The config as compact JSON, validated and with keys in the documented order. */
export function configToJson(config: PidStudioConfig): string {
  return JSON.stringify(parseConfig(config, 'config'));
}

/**
 * The `pid_studio` config (docs: formats.md): types, validation with one-line errors naming the field path,
 * and defaults. Each network type has one entry in NETWORK_PARSERS; adding a type means adding one entry.
 */
import { LOSS_NAMES, OPTIMIZER_NAMES, RUN_SETTING_SPECS } from './run-settings';
import { ModelFileError } from './errors.ts';

export interface EdmSettings { sigma_data: number; sigma_min: number; sigma_max: number; rho: number }
/** label_dim > 0: a class-conditional model, fed one-hot class labels [B, label_dim] (absent = 0, unconditional). */
export type { DataSpec } from './config-section.ts';
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
export interface GaussianMixtureNetwork { type: 'gaussian-mixture'; weights: number[]; means: number[][]; stds: number[] }
export interface MlpNetwork { type: 'mlp'; hidden: number; blocks: number; emb_dim: number; emb_max_freq: number }
/** An EDM-style U-Net for HWC images (src/core/nets/unet.ts, README "network types"). */
export interface UnetNetwork {
  type: 'unet';
  /** Width of the first level; level l has channels * channel_mult[l] channels. */
  channels: number;
  /** One entry per resolution level; each level after the first halves H and W. */
  channel_mult: number[];
  /** Residual blocks per level, in the encoder and in the decoder. */
  blocks_per_level: number;
  /** Feature-map heights at which each residual block is followed by self-attention. */
  attn_resolutions: number[];
  /** Width of the noise-level embedding (Fourier features of c_noise, then a two-layer MLP). */
  emb_dim: number;
  /** Highest frequency of the Fourier features of c_noise. */
  emb_max_freq: number;
  /** GroupNorm groups; divides every level's width. */
  groups: number;
}
export type NetworkSpec = GaussianMixtureNetwork | MlpNetwork | UnetNetwork | EdmSongUnetNetwork | EdmDhariwalUnetNetwork | DiffusersUnet2dNetwork;
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
export const MLP_DEFAULTS: Omit<MlpNetwork, 'type'> = { hidden: 64, blocks: 2, emb_dim: 16, emb_max_freq: 4 };
export const UNET_DEFAULTS: Omit<UnetNetwork, 'type'> = {
  channels: 16, channel_mult: [1, 2], blocks_per_level: 1, attn_resolutions: [], emb_dim: 64, emb_max_freq: 4, groups: 4,
};

import { type EdmDhariwalUnetNetwork, type EdmSongUnetNetwork, parseEdmDhariwalUnet, parseEdmSongUnet } from './edm-networks.ts';
import { type DiffusersUnet2dNetwork, parseDiffusersUnet2d } from './diffusers-network.ts';
import { type DataSpec, type Obj, POSITIVE, Section, isCount, isFiniteNum, isObject, isPositive, isPositiveInt, oneOf, preview } from './config-section.ts';

type NetworkParser<T extends NetworkSpec> = (net: Obj, file: string, data: DataSpec) => T;

const NETWORK_PARSERS: { [K in NetworkSpec['type']]: NetworkParser<Extract<NetworkSpec, { type: K }>> } = {
  'gaussian-mixture': (o, file, data) => {
    const s = new Section(file, 'network', o, ['type', 'weights', 'means', 'stds']);
    const dim = data.shape.reduce((a, b) => a * b, 1);
    const list = (key: string): unknown[] => s.get(key, (v) => Array.isArray(v) && v.length > 0, 'a non-empty array with one entry per component');
    const weights = list('weights');
    const means = list('means');
    const stds = list('stds');
    const k = weights.length;
    for (const [key, arr] of [['means', means], ['stds', stds]] as const) {
      if (arr.length !== k) s.fail(key, `an array of ${k} entries, one per component like network.weights`, arr);
    }
    weights.forEach((w, i) => { if (!(isFiniteNum(w) && w >= 0)) s.fail(`weights[${i}]`, 'a non-negative finite number', w); });
    stds.forEach((v, i) => { if (!isPositive(v)) s.fail(`stds[${i}]`, POSITIVE, v); });
    means.forEach((m, i) => {
      if (!Array.isArray(m) || m.length !== dim || !m.every(isFiniteNum)) {
        s.fail(`means[${i}]`, `an array of ${dim} finite numbers (the product of data.shape [${data.shape}])`, m);
      }
    });
    const w = weights as number[];
    const sum = w.reduce((a, b) => a + b, 0);
    if (!(sum > 0) || !Number.isFinite(sum)) s.fail('weights', 'non-negative numbers with a positive finite sum', weights);
    // Normalised only when off by more than rounding, so that parsing a written config changes nothing.
    const normalised = Math.abs(sum - 1) > 1e-12 ? w.map((x) => x / sum) : [...w];
    return { type: 'gaussian-mixture', weights: normalised, means: (means as number[][]).map((m) => [...m]), stds: [...stds as number[]] };
  },

  mlp: (o, file) => {
    const s = new Section(file, 'network', o, ['type', 'hidden', 'blocks', 'emb_dim', 'emb_max_freq']);
    const pick = <T>(key: keyof typeof MLP_DEFAULTS, test: (v: unknown) => boolean, must: string): T =>
      (key in o ? s.get<T>(key, test, must) : MLP_DEFAULTS[key]) as T;
    return {
      type: 'mlp',
      hidden: pick('hidden', isPositiveInt, 'a positive integer'),
      blocks: pick('blocks', isPositiveInt, 'a positive integer'),
      emb_dim: pick('emb_dim', (v) => isPositiveInt(v) && (v as number) % 2 === 0, 'a positive even integer'),
      emb_max_freq: pick('emb_max_freq', isPositive, POSITIVE),
    };
  },

  unet: (o, file, data) => {
    const keys = ['type', 'channels', 'channel_mult', 'blocks_per_level', 'attn_resolutions', 'emb_dim', 'emb_max_freq', 'groups'] as const;
    const s = new Section(file, 'network', o, keys);
    if (data.shape.length !== 3) {
      new Section(file, 'data', {}, []).fail('shape', 'three positive integers [H, W, C] for network type "unet" (images are HWC)', data.shape,
        'give the image shape as [height, width, channels], e.g. [28, 28, 1]');
    }
    const [H, W] = data.shape;
    const pick = <T>(key: keyof typeof UNET_DEFAULTS, test: (v: unknown) => boolean, must: string): T =>
      (key in o ? s.get<T>(key, test, must) : UNET_DEFAULTS[key]) as T;
    const integers = (key: 'channel_mult' | 'attn_resolutions', nonEmpty: boolean): number[] => {
      const list = pick<unknown[]>(key, (v) => Array.isArray(v) && (!nonEmpty || v.length > 0),
        nonEmpty ? 'a non-empty array of positive integers' : 'an array of positive integers (may be empty)');
      list.forEach((v, i) => { if (!isPositiveInt(v)) s.fail(`${key}[${i}]`, 'a positive integer', v); });
      return [...list as number[]];
    };
    const channels = pick<number>('channels', isPositiveInt, 'a positive integer');
    const channel_mult = integers('channel_mult', true);
    const levels = channel_mult.length;
    const factor = 2 ** (levels - 1);
    if (H % factor !== 0 || W % factor !== 0) {
      s.fail('channel_mult', `a list of at most as many levels as data.shape [${data.shape}] allows: with ${levels} levels, H and W must be divisible by 2^${levels - 1} = ${factor}`,
        channel_mult, 'use fewer levels, or an image size divisible by 2^(levels - 1)');
    }
    const heights = channel_mult.map((_, l) => H / 2 ** l);
    const attn_resolutions = integers('attn_resolutions', false);
    attn_resolutions.forEach((r, i) => {
      if (!heights.includes(r)) s.fail(`attn_resolutions[${i}]`, `one of the feature-map heights ${heights.join(', ')}`, r);
    });
    const widths = channel_mult.map((m) => channels * m);
    return {
      type: 'unet',
      channels,
      channel_mult,
      blocks_per_level: pick('blocks_per_level', isPositiveInt, 'a positive integer'),
      attn_resolutions,
      emb_dim: pick('emb_dim', (v) => isPositiveInt(v) && (v as number) % 2 === 0, 'a positive even integer'),
      emb_max_freq: pick('emb_max_freq', isPositive, POSITIVE),
      groups: pick('groups', (v) => isPositiveInt(v) && widths.every((w) => w % (v as number) === 0),
        `a positive integer that divides every level's width channels * channel_mult[l] (${widths.join(', ')})`),
    };
  },

  'edm-songunet': parseEdmSongUnet,
  'edm-dhariwalunet': parseEdmDhariwalUnet,
  'diffusers-unet2d': parseDiffusersUnet2d,
};

export const NETWORK_TYPES = Object.keys(NETWORK_PARSERS) as NetworkSpec['type'][];

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
  const type = net.type;
  if (typeof type !== 'string' || !Object.hasOwn(NETWORK_PARSERS, type)) {
    const known = NETWORK_TYPES.join(', ');
    const problem = typeof type === 'string' ? `is ${preview(type)}, not a known network type (known: ${known})`
      : `is missing or not a string; it must be one of: ${known}`;
    new Section(fileName, 'network', {}, []).fail('type', problem, undefined, 'set network.type to a known type, or convert the model to one');
  }
  const network = NETWORK_PARSERS[type as NetworkSpec['type']](net, fileName, data);

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

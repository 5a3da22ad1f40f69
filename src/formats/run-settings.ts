/**
 * The one table of a PID run's settings: name, default, bounds and hint. The student file's `pid` section, the CLI's
 * flags, the studio's URL and settings panel, and checkpoint validation all read it, so a setting is declared once.
 * It lives in formats/ because the file parser needs it and formats/ imports nothing above it.
 */
export type LossName = 'l2' | 'l1' | 'pseudo-huber';
export const LOSS_NAMES: LossName[] = ['l2', 'l1', 'pseudo-huber'];

export type OptimizerName = 'radam' | 'adam';
export const OPTIMIZER_NAMES: OptimizerName[] = ['radam', 'adam'];

/** Everything that defines a run: the same settings give the same losses in the CLI and in the studio. */
export interface RunSettings {
  /** Points of the Karras grid the PID residual is taken on. */
  N: number;
  loss: LossName;
  optimizer: OptimizerName;
  /** Learning rate of the first step. */
  lr: number;
  /** Learning rate of the last step; the schedule decays exponentially from lr (lrFinal = lr: constant, as the paper). */
  lrFinal: number;
  /** EMA rate of the student weights (0: none); a student file holds the average. */
  ema: number;
  batch: number;
  steps: number;
  seed: number;
  /** Steps between two measurements of the student against the teacher's ODE. */
  evalEvery: number;
}

export type RunSettingKey = keyof RunSettings;

interface Base {
  key: RunSettingKey;
  label: string;
  /** The CLI flag, without "--". */
  flag: string;
  /** The key in a student file's `pid` section; absent: not recorded in the file. */
  fileKey?: string;
  hint: string;
}
export type RunSettingSpec =
  | (Base & { kind: 'int'; min: number; max: number })
  | (Base & { kind: 'number'; min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean })
  | (Base & { kind: 'choice'; options: readonly string[] });

export const RUN_SETTING_SPECS: RunSettingSpec[] = [
  { key: 'N', label: 'Grid points N', flag: 'N', fileKey: 'N', kind: 'int', min: 2, max: 100000,
    hint: 'Karras grid points the ODE residual is taken on; the paper uses 250, and quality improves as N grows.' },
  { key: 'loss', label: 'Loss', flag: 'loss', fileKey: 'loss', kind: 'choice', options: LOSS_NAMES,
    hint: 'Distance d between y - t·dy/dt and the teacher D(y, t). The paper uses LPIPS for images; l2 for points.' },
  { key: 'optimizer', label: 'Optimizer', flag: 'optimizer', fileKey: 'optimizer', kind: 'choice', options: OPTIMIZER_NAMES,
    hint: 'RAdam as in the reference code (no weight decay); Adam for comparison.' },
  { key: 'lr', label: 'Learning rate', flag: 'lr', fileKey: 'lr', kind: 'number', min: 0, max: 1, minExclusive: true,
    hint: 'Learning rate of the first step. The paper: 2e-4 constant (CIFAR-10). Lower it if the loss diverges.' },
  { key: 'lrFinal', label: 'Final learning rate', flag: 'lr-final', fileKey: 'lr_final', kind: 'number', min: 0, max: 1, minExclusive: true,
    hint: 'Learning rate of the last step: it decays exponentially from the first. Equal to it: constant, as in the paper.' },
  { key: 'ema', label: 'EMA rate', flag: 'ema', fileKey: 'ema', kind: 'number', min: 0, max: 1, maxExclusive: true,
    hint: 'Moving average of the student weights (0.999 in the paper, warmed up); the downloaded student holds it. 0: none.' },
  { key: 'batch', label: 'Batch', flag: 'batch', fileKey: 'batch', kind: 'int', min: 1, max: 65536,
    hint: 'Noise samples z per step. A real GPU takes thousands; a CPU a few hundred.' },
  { key: 'steps', label: 'Steps', flag: 'steps', fileKey: 'steps', kind: 'int', min: 0, max: 10_000_000,
    hint: 'Training steps of the run; the learning rate reaches its final value at the last one (0: the student as it starts). Pause or stop at any time.' },
  { key: 'seed', label: 'Seed', flag: 'seed', fileKey: 'seed', kind: 'int', min: 0, max: 2 ** 32 - 1,
    hint: 'Seeds the student initialisation, the training noise and the grid times: same seed and settings, same run.' },
  { key: 'evalEvery', label: 'Evaluate every K steps', flag: 'eval-every', kind: 'int', min: 1, max: 10_000_000,
    hint: 'How often the student is measured against the teacher\'s ODE on fixed validation noise (and its samples redrawn).' },
];

export const RUN_SETTING_KEYS: RunSettingKey[] = RUN_SETTING_SPECS.map((s) => s.key);
export const runSettingSpec = (key: RunSettingKey): RunSettingSpec => RUN_SETTING_SPECS.find((s) => s.key === key)!;
export const runSettingByFlag = (flag: string): RunSettingSpec | undefined => RUN_SETTING_SPECS.find((s) => s.flag === flag);

export type PresetId = 'quick' | 'paper';

export interface Preset {
  id: PresetId;
  label: string;
  hint: string;
  /** The settings the preset fixes; batch, steps and evalEvery are left to the backend (and the teacher) when absent. */
  values: Partial<RunSettings>;
}

/**
 * "Quick" is what works in about a minute on a CPU (measured on moons-mlp, README): a fast start and a fine finish.
 * "Paper" is the reference code's recipe (N 250, RAdam 2e-4 constant, EMA 0.999, l2; pid-method.md §3 / Tee et al.
 * Table 6); on a CPU it needs far more steps than a minute allows.
 */
export const PRESETS: Record<PresetId, Preset> = {
  quick: {
    id: 'quick',
    label: 'Quick',
    hint: 'N 250, RAdam 1e-2 decaying to 1e-3, EMA 0.99, l2: a good student in about a minute on the default teacher.',
    values: { N: 250, loss: 'l2', optimizer: 'radam', lr: 1e-2, lrFinal: 1e-3, ema: 0.99, seed: 0 },
  },
  paper: {
    id: 'paper',
    label: 'Paper',
    hint: 'The reference code: N 250, RAdam 2e-4 constant, EMA 0.999, l2. Slow to converge on a CPU.',
    values: { N: 250, loss: 'l2', optimizer: 'radam', lr: 2e-4, lrFinal: 2e-4, ema: 0.999, seed: 0 },
  },
};
export const PRESET_IDS: PresetId[] = ['quick', 'paper'];
export const DEFAULT_PRESET: PresetId = 'quick';

/** The run settings nothing else decided: the Quick preset with a CPU's batch and step count. */
export const RUN_DEFAULTS: RunSettings = {
  N: 250, loss: 'l2', optimizer: 'radam', lr: 1e-2, lrFinal: 1e-3, ema: 0.99, batch: 256, steps: 4000, seed: 0, evalEvery: 400,
  ...PRESETS.quick.values,
};

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Checks one value against its row of the table; the error names the setting and what is allowed. */
export function checkRunSetting<K extends RunSettingKey>(key: K, value: unknown, name: string = runSettingSpec(key).label): Parsed<RunSettings[K]> {
  const spec = runSettingSpec(key);
  if (spec.kind === 'choice') {
    return typeof value === 'string' && spec.options.includes(value)
      ? { ok: true, value: value as RunSettings[K] }
      : { ok: false, error: `${name} must be one of ${spec.options.join(', ')}` };
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, error: `${name} must be a number` };
  if (spec.kind === 'int') {
    if (!Number.isInteger(value)) return { ok: false, error: `${name} must be a whole number` };
    if (value < spec.min || value > spec.max) return { ok: false, error: `${name} must be between ${spec.min} and ${spec.max}` };
    return { ok: true, value: value as RunSettings[K] };
  }
  const lowOk = spec.minExclusive ? value > spec.min : value >= spec.min;
  const highOk = spec.maxExclusive ? value < spec.max : value <= spec.max;
  if (!lowOk || !highOk) {
    const lo = spec.minExclusive ? `greater than ${spec.min}` : `at least ${spec.min}`;
    const hi = spec.maxExclusive ? `less than ${spec.max}` : `at most ${spec.max}`;
    return { ok: false, error: `${name} must be ${lo} and ${hi}` };
  }
  return { ok: true, value: value as RunSettings[K] };
}

/** Parses one setting from text (a URL parameter, a form field, a CLI value). */
export function parseRunSetting<K extends RunSettingKey>(key: K, raw: string, name?: string): Parsed<RunSettings[K]> {
  const spec = runSettingSpec(key);
  const text = raw.trim();
  if (spec.kind === 'choice') return checkRunSetting(key, text, name);
  return checkRunSetting(key, text === '' ? NaN : Number(text), name);
}

/** Every problem of a whole settings object (each field, then what single fields cannot show); empty when valid. */
export function runSettingsProblems(s: Partial<Record<RunSettingKey, unknown>>): string[] {
  const out: string[] = [];
  for (const key of RUN_SETTING_KEYS) {
    const r = checkRunSetting(key, s[key]);
    if (!r.ok) out.push(r.error);
  }
  return out;
}

/** An older record (a checkpoint or saved run from before lrFinal and evalEvery were settings) made whole. */
export function upgradeRunSettings(s: Partial<RunSettings> & { lr: number }, steps?: number): Partial<RunSettings> {
  const total = s.steps ?? steps;
  return {
    ...s,
    lrFinal: s.lrFinal ?? s.lr,
    ...(total !== undefined ? { steps: total } : {}),
    evalEvery: s.evalEvery ?? (total !== undefined ? Math.max(1, Math.round(total / 10)) : undefined),
  };
}

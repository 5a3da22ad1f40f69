/**
 * A sweep's plan: the setting (a row of the settings table), its values checked with the table, each run's settings.
 * Free of tfjs, so the page checks what the user typed with the same rules as the worker and the CLI.
 */
import {
  RUN_SETTING_SPECS, type RunSettingKey, type RunSettingSpec, type RunSettings, parseRunSetting, runSettingsProblems,
} from '../formats/run-settings';

/** A sweep text or value that cannot be run; the message is one line naming the setting and what is allowed. */
export class SweepError extends Error {}

export type SweepValue = number | string;

export interface SweepPlan {
  key: RunSettingKey;
  spec: RunSettingSpec;
  values: SweepValue[];
  /** The settings of each run, in the order of `values`. */
  runs: RunSettings[];
  /** The settings the values replace one setting of (its seed draws the validation noise of every run). */
  base: RunSettings;
}

/** The row of the settings table a sweep names, by key (lrFinal) or CLI flag (lr-final), in any letter case. */
export function sweepSetting(name: string): RunSettingSpec {
  const n = name.trim();
  const exact = RUN_SETTING_SPECS.find((s) => s.key === n || s.flag === n);
  if (exact) return exact;
  const lower = RUN_SETTING_SPECS.filter((s) => s.key.toLowerCase() === n.toLowerCase() || s.flag.toLowerCase() === n.toLowerCase());
  if (lower.length === 1) return lower[0];
  throw new SweepError(`--sweep: '${n}' is not a run setting (settings: ${RUN_SETTING_SPECS.map((s) => s.key).join(', ')})`);
}

/** Splits `NAME=V1,V2,...` into the setting and its raw values. */
export function parseSweepText(text: string): { spec: RunSettingSpec; raw: string[] } {
  const at = text.indexOf('=');
  if (at < 0) throw new SweepError(`--sweep needs NAME=V1,V2,... (got '${text}')`);
  const spec = sweepSetting(text.slice(0, at));
  return { spec, raw: text.slice(at + 1).split(',') };
}

export interface PlanOptions {
  /** A swept step count sets each run's evalEvery to a tenth of it (the CLI's default when --eval-every is not given). */
  evalEveryFollowsSteps?: boolean;
}

/**
 * Checks every value with the settings table (and each run's settings as a whole) before anything runs: the first
 * problem is thrown as one line.
 */
export function planSweepValues(spec: RunSettingSpec, raw: string[], base: RunSettings, o: PlanOptions = {}): SweepPlan {
  const texts = raw.map((r) => r.trim());
  if (texts.length === 0 || texts.every((t) => t === '')) throw new SweepError(`--sweep ${spec.key}: give at least one value`);
  const values: SweepValue[] = [];
  for (const text of texts) {
    if (text === '') throw new SweepError(`--sweep ${spec.key}: an empty value (two commas, or one at an end)`);
    const r = parseRunSetting(spec.key, text, spec.key);
    if (!r.ok) throw new SweepError(`--sweep ${spec.key}: '${text}' is refused: ${r.error}`);
    if (values.includes(r.value)) throw new SweepError(`--sweep ${spec.key}: ${text} is given twice`);
    values.push(r.value);
  }
  const runs = values.map((v) => {
    const s = { ...base, [spec.key]: v } as RunSettings;
    if (spec.key === 'steps' && o.evalEveryFollowsSteps) s.evalEvery = Math.max(1, Math.round(s.steps / 10));
    const problems = runSettingsProblems(s);
    if (problems.length) throw new SweepError(`--sweep ${spec.key}=${v}: ${problems[0]}`);
    return s;
  });
  return { key: spec.key, spec, values, runs, base: { ...base } };
}

export function planSweep(text: string, base: RunSettings, o: PlanOptions = {}): SweepPlan {
  const { spec, raw } = parseSweepText(text);
  return planSweepValues(spec, raw, base, o);
}

/**
 * The page's state in the URL, so that a link reproduces a run: the teacher (a built-in id), the backend choice and
 * the run settings. Unknown or invalid parameters are reported, never silently used.
 */
import { PRESET_IDS, type PresetId } from '../formats/run-settings';
import { BACKEND_CHOICES, type BackendChoice, type StudioSettings } from '../worker/protocol';
import { SETTING_KEYS, type SettingKey, formatSetting, parseSetting } from './settings';

export interface UrlState {
  teacher?: string;
  backend?: BackendChoice;
  settings: Partial<StudioSettings>;
  /** Seconds between checkpoints of a running distillation (a page option, not a run setting). */
  checkpointSeconds?: number;
  /** The settings preset (absent: Quick). */
  preset?: PresetId;
  /** One line per parameter that was ignored, and why. */
  problems: string[];
}

const TEACHER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
export const CHECKPOINT_SECONDS_RANGE = [1, 3600] as const;

export function decodeUrlState(search: string): UrlState {
  const params = new URLSearchParams(search);
  const out: UrlState = { settings: {}, problems: [] };
  for (const [name, value] of params) {
    if (name === 'teacher') {
      if (TEACHER_ID.test(value)) out.teacher = value;
      else out.problems.push(`URL parameter teacher=${value} ignored: not a built-in teacher id`);
    } else if (name === 'backend') {
      if ((BACKEND_CHOICES as string[]).includes(value)) out.backend = value as BackendChoice;
      else out.problems.push(`URL parameter backend=${value} ignored: must be one of ${BACKEND_CHOICES.join(', ')}`);
    } else if (name === 'preset') {
      if ((PRESET_IDS as string[]).includes(value)) out.preset = value as PresetId;
      else out.problems.push(`URL parameter preset=${value} ignored: must be one of ${PRESET_IDS.join(', ')}`);
    } else if (name === 'checkpoint') {
      const n = Number(value);
      const [lo, hi] = CHECKPOINT_SECONDS_RANGE;
      if (value.trim() !== '' && Number.isInteger(n) && n >= lo && n <= hi) out.checkpointSeconds = n;
      else out.problems.push(`URL parameter checkpoint=${value} ignored: seconds between checkpoints must be a whole number from ${lo} to ${hi}`);
    } else if ((SETTING_KEYS as string[]).includes(name)) {
      const parsed = parseSetting(name as SettingKey, value);
      if (parsed.ok) (out.settings as Record<string, unknown>)[name] = parsed.value;
      else out.problems.push(`URL parameter ${name}=${value} ignored: ${parsed.error}`);
    } else {
      out.problems.push(`URL parameter ${name} ignored: not a setting of this page`);
    }
  }
  return out;
}

/** The query string (with "?", or "" when empty) for a teacher id, a backend choice and the settings. */
export function encodeUrlState(state: { teacher?: string | null; backend?: BackendChoice; settings: Partial<StudioSettings>; checkpointSeconds?: number | null; preset?: PresetId }): string {
  const params = new URLSearchParams();
  if (state.teacher) params.set('teacher', state.teacher);
  if (state.preset && state.preset !== 'quick') params.set('preset', state.preset);
  if (state.backend && state.backend !== 'auto') params.set('backend', state.backend);
  if (state.checkpointSeconds) params.set('checkpoint', String(state.checkpointSeconds));
  for (const key of SETTING_KEYS) {
    const v = state.settings[key];
    if (v !== undefined) params.set(key, formatSetting(key, v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

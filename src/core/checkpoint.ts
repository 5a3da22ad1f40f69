/**
 * A distillation checkpoint: the full trainer state (student, EMA, optimiser moments, step, RNG, counters) plus
 * what it belongs to (teacher sha256, student network, settings), as one safetensors file whose
 * __metadata__.pid_studio_checkpoint holds the JSON. Same bytes on disk (CLI) and in IndexedDB (studio).
 */
import type { LearnedNetworkSpec } from './nets';
import type { PidSettings, PidTrainer, TrainerState } from './pid';
import { ModelFileError } from '../formats/errors';
import { type RunSettings, runSettingsProblems } from '../formats/run-settings';
import { readSafetensors, writeSafetensors } from '../formats/safetensors';

export const CHECKPOINT_FORMAT = 'pid-studio-checkpoint/1';

export interface CheckpointInfo {
  format: typeof CHECKPOINT_FORMAT;
  teacher: { name: string; sha256: string };
  network: LearnedNetworkSpec;
  settings: PidSettings;
  /** The run's planned length and lr schedule end, so a resumed run continues the same schedule. */
  steps: number;
  lrFinal: number;
  /** Steps between evaluations (absent in checkpoints of before it was a setting: steps / 10). */
  evalEvery?: number;
  savedAt: string;
}

export interface Checkpoint {
  info: CheckpointInfo;
  state: TrainerState;
}

type Scalars = Omit<TrainerState, 'tensors'>;

export function checkpointBytes({ info, state }: Checkpoint): Uint8Array {
  const { tensors, ...scalars } = state;
  return writeSafetensors(tensors, { pid_studio_checkpoint: JSON.stringify({ ...info, state: scalars }) });
}

/** A running trainer's checkpoint: its state read back from the device, with what the run belongs to. */
export async function trainerCheckpoint(
  trainer: PidTrainer,
  run: { teacher: CheckpointInfo['teacher']; network: LearnedNetworkSpec; steps: number; lrFinal: number; evalEvery?: number },
): Promise<Uint8Array> {
  const info: CheckpointInfo = { format: CHECKPOINT_FORMAT, ...run, settings: { ...trainer.settings }, savedAt: new Date().toISOString() };
  return checkpointBytes({ info, state: await trainer.saveState() });
}

export function readCheckpoint(bytes: Uint8Array, fileName: string): Checkpoint {
  const contents = readSafetensors(bytes, fileName);
  const text = contents.metadata.pid_studio_checkpoint;
  if (text === undefined) throw new ModelFileError(fileName, 'is not a pid-studio checkpoint (no __metadata__.pid_studio_checkpoint)', 'give the file written by --checkpoint');
  let parsed: CheckpointInfo & { state: Scalars };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ModelFileError(fileName, 'checkpoint metadata is not valid JSON', 'delete the checkpoint and start again');
  }
  const s = parsed?.state;
  const ok =
    parsed?.format === CHECKPOINT_FORMAT &&
    typeof parsed.teacher?.sha256 === 'string' &&
    typeof parsed.network?.type === 'string' &&
    typeof parsed.settings?.N === 'number' &&
    [s?.step, s?.optimizerStep, s?.emaUpdates, s?.lrFactor, s?.skippedSteps, s?.restores, parsed.steps, parsed.lrFinal].every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    Array.isArray(s.rng) && s.rng.length === 4 && s.rng.every((w: unknown) => Number.isInteger(w));
  if (!ok) throw new ModelFileError(fileName, `checkpoint metadata is not of format ${CHECKPOINT_FORMAT} or misses fields`, 'delete the checkpoint and start again');
  const problems = runSettingsProblems(checkpointRunSettings(parsed));
  if (problems.length) throw new ModelFileError(fileName, `checkpoint settings are not valid: ${problems.join('; ')}`, 'delete the checkpoint and start again');
  const { state, ...info } = parsed;
  const tensors = new Map([...contents.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  return { info, state: { ...state, tensors } };
}

/** The whole run settings a checkpoint holds (older ones lack evalEvery: a tenth of the run). */
export function checkpointRunSettings(info: CheckpointInfo): RunSettings {
  return {
    ...info.settings, steps: info.steps, lrFinal: info.lrFinal,
    evalEvery: info.evalEvery ?? Math.max(1, Math.round(info.steps / 10)),
  };
}

/** Why a checkpoint cannot continue this run, or null when it can. */
export function checkpointMismatch(info: CheckpointInfo, teacherSha256: string, network: LearnedNetworkSpec): string | null {
  if (info.teacher.sha256 !== teacherSha256) {
    return `was made for teacher "${info.teacher.name}" (sha256 ${info.teacher.sha256.slice(0, 12)}...), not this one (${teacherSha256.slice(0, 12)}...)`;
  }
  if (JSON.stringify(info.network) !== JSON.stringify(network)) {
    return `was made for student network ${JSON.stringify(info.network)}, not ${JSON.stringify(network)}`;
  }
  return null;
}

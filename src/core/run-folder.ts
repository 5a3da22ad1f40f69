/**
 * A run folder ("pid-studio-run/1", docs/formats.md "Run folders"): a distillation shaped here, for torch/train.py
 * to run under torchrun on the user's GPUs. This module builds the folder's files from a loaded teacher and resolved
 * settings, with no file system and no page: `pid-studio export-run` writes them to a folder (src/cli/export-run.ts),
 * the studio's worker puts them in a zip ("Run on your GPUs", src/worker/run-zip.ts).
 *
 * The files: run.json, teacher.safetensors (the teacher as a pid-studio model file), and student-init.safetensors
 * when the student does not start from the teacher's weights (a fresh initialisation drawn with the run's seed + 1,
 * as `distill` and the studio draw it, so both engines start alike).
 */
import { configToJson } from '../formats/config';
import { ModelFileError } from '../formats/errors';
import { type ModelFile, sha256Hex, writeModelFile } from '../formats/model-file';
import type { RunSettings } from '../formats/run-settings';
import { writeSafetensors } from '../formats/safetensors';
import { defaultStudentSpec } from './models';
import { type LearnedNetworkSpec, initParams, isLearnedNetwork } from './nets';
import { Rng } from './rng';

export const RUN_FORMAT = 'pid-studio-run/1';
export const TEACHER_FILE = 'teacher.safetensors';
export const STUDENT_INIT_FILE = 'student-init.safetensors';
export const RUN_JSON = 'run.json';

export interface RunFile {
  format: typeof RUN_FORMAT;
  /** Every run setting of the settings table, resolved (formats/run-settings.ts keys). */
  settings: RunSettings;
  /** Samples per forward and backward pass per process (absent: the whole share of the batch at once). */
  microBatch?: number;
  teacher: {
    /** The teacher file in this folder. */
    file: string;
    /** The file the teacher was read from (a name, not a path), and its sha256: the one a student file records. */
    source: string;
    name: string;
    sha256: string;
    /** sha256 of teacher.safetensors as written here (equal to sha256 when the source was that same file). */
    fileSha256: string;
    config: unknown;
  };
  student: {
    network: LearnedNetworkSpec;
    /** The student starts from the teacher's weights (same architecture), else from `init`. */
    fromTeacher: boolean;
    /** The file holding the starting weights: the teacher's, or student-init.safetensors. */
    init: string;
    /** The student file's config.name (absent: "<teacher> (PID student)"). */
    name?: string;
  };
  command: string;
  createdAt: string;
}

export interface RunFolderOptions {
  /** Resolved settings (distillSettings in the CLI; the settings Start would send in the studio). */
  settings: RunSettings;
  /** The folder as the command names it: a path for the CLI, '.' for a zip unpacked and entered. */
  folder: string;
  microBatch?: number;
  /** The student's network (absent: the teacher's when it is learned, else the default MLP). */
  studentNetwork?: LearnedNetworkSpec;
  /** The student file's config.name. */
  name?: string;
  /** run.json's createdAt (absent: now). */
  createdAt?: Date;
}

export interface RunFolder {
  run: RunFile;
  /** run.json, teacher.safetensors and, for a fresh student, student-init.safetensors: names relative to the folder. */
  files: { name: string; bytes: Uint8Array }[];
}

/** The command that runs a folder with K processes (K a number, or a placeholder such as 'K' or '"$NPROC"'). */
export function torchrunCommand(folder: string, processes: number | string = 1): string {
  return `torchrun --nproc_per_node=${processes} torch/train.py ${folder} --out student.safetensors`;
}

/** The file name of a path, either separator (a model read from a folder or a drop keeps the name it was given). */
const baseName = (path: string): string => path.split(/[\\/]/).filter(Boolean).pop() ?? path;

/** Refuses what cannot be a run's teacher, in one line (before anything is written). */
export function checkRunTeacher(model: ModelFile): void {
  if (model.config.role !== 'teacher') throw new ModelFileError(model.fileName, `is a ${model.config.role}, not a teacher`, 'choose a teacher model file');
}

/** The run folder's files for `model` (a teacher) and the resolved settings. */
export async function buildRunFolder(model: ModelFile, options: RunFolderOptions): Promise<RunFolder> {
  checkRunTeacher(model);
  const { settings, microBatch } = options;
  const spec = options.studentNetwork ?? defaultStudentSpec(model.config);
  // as createStudentNetwork: the teacher's weights when the architecture is the teacher's, else a fresh init from seed + 1
  const fromTeacher = isLearnedNetwork(model.config.network) && JSON.stringify(spec) === JSON.stringify(model.config.network);
  const teacherBytes = writeModelFile(model.config, model.tensors);
  const files: RunFolder['files'] = [{ name: TEACHER_FILE, bytes: teacherBytes }];
  if (!fromTeacher) {
    const init = initParams(spec, model.config.data.shape, new Rng(settings.seed + 1));
    files.push({ name: STUDENT_INIT_FILE, bytes: writeSafetensors(init, { pid_studio_network: JSON.stringify(spec) }) });
  }
  const run: RunFile = {
    format: RUN_FORMAT,
    settings,
    ...(microBatch !== undefined ? { microBatch } : {}),
    teacher: {
      file: TEACHER_FILE, source: baseName(model.fileName), name: model.config.name, sha256: model.sha256,
      fileSha256: await sha256Hex(teacherBytes), config: JSON.parse(configToJson(model.config)),
    },
    student: {
      network: spec, fromTeacher, init: fromTeacher ? TEACHER_FILE : STUDENT_INIT_FILE,
      ...(options.name !== undefined ? { name: options.name } : {}),
    },
    command: torchrunCommand(options.folder),
    createdAt: (options.createdAt ?? new Date()).toISOString(),
  };
  files.unshift({ name: RUN_JSON, bytes: new TextEncoder().encode(`${JSON.stringify(run, null, 2)}\n`) });
  return { run, files };
}

/** One line on the run's settings, as export-run prints it and the zip's README gives it. */
export function runSummary(run: RunFile): string {
  const s = run.settings;
  return `${s.steps} steps, batch ${s.batch}, N ${s.N}, ${s.loss}, ${s.optimizer} lr ${s.lr}${s.lrFinal !== s.lr ? ` -> ${s.lrFinal}` : ''}, ema ${s.ema}, seed ${s.seed}`;
}

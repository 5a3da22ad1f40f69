/**
 * `pid-studio export-run`: a distillation shaped here, to run elsewhere (torch/train.py under torchrun). Writes a
 * folder with run.json (format "pid-studio-run/1", docs/formats.md) and teacher.safetensors (the teacher as a
 * pid-studio model file), plus student-init.safetensors when the student does not start from the teacher's weights
 * (a fresh initialisation drawn here with the run's seed, as `distill` draws it, so both engines start alike).
 *
 * The settings are `distill`'s, resolved the same way (distillSettings: the flags, then the preset, then RUN_DEFAULTS)
 * but without the plan `distill` times on this machine for image teachers: that plan sizes a run to this CPU, not to
 * the GPUs the run goes to. Give --batch and --steps for them.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { configToJson } from '../formats/config';
import { ModelFileError } from '../formats/errors';
import { writeModelFile } from '../formats/model-file';
import { writeSafetensors } from '../formats/safetensors';
import { type RunSettings } from '../formats/run-settings';
import { defaultStudentSpec } from '../core/models';
import { type LearnedNetworkSpec, initParams, isLearnedNetwork } from '../core/nets';
import { Rng } from '../core/rng';
import { type OptionKind, UsageError, parseOptions } from './args';
import { DISTILL_OPTIONS, distillSettings } from './distill';
import { readModelArg, writeFile } from './io';
import { parseNetworkOption } from './network-option';
import { precondOption } from './precond-option';

export const RUN_FORMAT = 'pid-studio-run/1';

/** distill's flags that shape the run; the ones about this machine's training (backend, log, checkpoints, plan) are torch/train.py's. */
const MACHINE_FLAGS = ['backend', 'log', 'checkpoint', 'resume', 'checkpoint-every', 'minutes', 'force'];
export const EXPORT_RUN_OPTIONS: Record<string, OptionKind> = Object.fromEntries(Object.entries(DISTILL_OPTIONS).filter(([k]) => !MACHINE_FLAGS.includes(k)));

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

export async function exportRun(argv: string[], out: (line: string) => void): Promise<number> {
  const o = parseOptions(argv, EXPORT_RUN_OPTIONS, 'export-run');
  if (typeof o.teacher !== 'string') throw new UsageError('export-run: --teacher <model | builtin:NAME> is required');
  if (typeof o.out !== 'string') throw new UsageError('export-run: --out <folder> is required');
  const micro = o['micro-batch'] as number | undefined;
  if (micro !== undefined && micro < 1) throw new UsageError(`export-run: --micro-batch must be at least 1 (got '${micro}')`);
  let settings: RunSettings;
  try {
    settings = distillSettings(o);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message.replace(/^distill: /, 'export-run: '));
    throw e;
  }
  const model = await readModelArg(o.teacher, { precond: precondOption(o.precond, 'export-run') });
  if (model.config.role !== 'teacher') throw new ModelFileError(model.fileName, `is a ${model.config.role}, not a teacher`, 'choose a teacher model file');
  const spec = typeof o['student-network'] === 'string'
    ? parseNetworkOption(o['student-network'], model.config.data, '--student-network', 'export-run')
    : defaultStudentSpec(model.config);
  // as createStudentNetwork: the teacher's weights when the architecture is the teacher's, else a fresh init from seed + 1
  const fromTeacher = isLearnedNetwork(model.config.network) && JSON.stringify(spec) === JSON.stringify(model.config.network);
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new ModelFileError(o.out, `cannot be made as a folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give a folder path that can be written');
  }
  const teacherBytes = writeModelFile(model.config, model.tensors);
  writeFile(join(o.out, 'teacher.safetensors'), teacherBytes);
  if (!fromTeacher) {
    const init = initParams(spec, model.config.data.shape, new Rng(settings.seed + 1));
    writeFile(join(o.out, 'student-init.safetensors'), writeSafetensors(init, { pid_studio_network: JSON.stringify(spec) }));
  }
  const command = `torchrun --nproc_per_node=1 torch/train.py ${o.out} --out student.safetensors`;
  const run: RunFile = {
    format: RUN_FORMAT,
    settings,
    ...(micro !== undefined ? { microBatch: micro } : {}),
    teacher: {
      file: 'teacher.safetensors', source: basename(model.fileName), name: model.config.name, sha256: model.sha256,
      fileSha256: createHash('sha256').update(teacherBytes).digest('hex'), config: JSON.parse(configToJson(model.config)),
    },
    student: {
      network: spec, fromTeacher, init: fromTeacher ? 'teacher.safetensors' : 'student-init.safetensors',
      ...(typeof o.name === 'string' ? { name: o.name } : {}),
    },
    command,
    createdAt: new Date().toISOString(),
  };
  writeFile(join(o.out, 'run.json'), new TextEncoder().encode(`${JSON.stringify(run, null, 2)}\n`));
  const s = settings;
  out(`wrote ${o.out}/: run.json (${s.steps} steps, batch ${s.batch}, N ${s.N}, ${s.loss}, ${s.optimizer} lr ${s.lr}${s.lrFinal !== s.lr ? ` -> ${s.lrFinal}` : ''}, ema ${s.ema}, seed ${s.seed}), teacher.safetensors ("${model.config.name}")${fromTeacher ? '' : `, student-init.safetensors (a fresh ${spec.type})`}`);
  out(`  run it: ${command.replace('--nproc_per_node=1', '--nproc_per_node=K')}  (K processes, one per GPU; plain python runs one)`);
  return 0;
}

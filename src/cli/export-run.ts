/**
 * `pid-studio export-run`: a distillation shaped here, to run elsewhere (torch/train.py under torchrun). Writes a
 * folder with run.json (format "pid-studio-run/1", docs/formats.md) and teacher.safetensors (the teacher as a
 * pid-studio model file), plus student-init.safetensors when the student does not start from the teacher's weights
 * (a fresh initialisation drawn here with the run's seed, as `distill` draws it, so both engines start alike).
 *
 * The settings are `distill`'s, resolved the same way (distillSettings: the flags, then the preset, then RUN_DEFAULTS)
 * but without the plan `distill` times on this machine for image teachers: that plan sizes a run to this CPU, not to
 * the GPUs the run goes to. Give --batch and --steps for them.
 *
 * The folder's files are built by core/run-folder.ts, which the studio's "Run on your GPUs" zip shares.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFileError } from '../formats/errors';
import { type RunSettings } from '../formats/run-settings';
import { RUN_FORMAT, RUN_JSON, type RunFile, buildRunFolder, checkRunTeacher, runSummary, torchrunCommand } from '../core/run-folder';
import { type OptionKind, UsageError, parseOptions } from './args';
import { DISTILL_OPTIONS, distillSettings } from './distill';
import { readModelArg, writeFile } from './io';
import { parseNetworkOption } from './network-option';
import { precondOption } from './precond-option';

export { RUN_FORMAT, type RunFile };

/** distill's flags that shape the run; the ones about this machine's training (backend, log, checkpoints, plan) are torch/train.py's. */
const MACHINE_FLAGS = ['backend', 'log', 'checkpoint', 'resume', 'checkpoint-every', 'minutes', 'force'];
export const EXPORT_RUN_OPTIONS: Record<string, OptionKind> = Object.fromEntries(Object.entries(DISTILL_OPTIONS).filter(([k]) => !MACHINE_FLAGS.includes(k)));

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
  checkRunTeacher(model);
  const studentNetwork = typeof o['student-network'] === 'string'
    ? parseNetworkOption(o['student-network'], model.config.data, '--student-network', 'export-run')
    : undefined;
  const { run, files } = await buildRunFolder(model, {
    settings, folder: o.out,
    ...(micro !== undefined ? { microBatch: micro } : {}),
    ...(studentNetwork ? { studentNetwork } : {}),
    ...(typeof o.name === 'string' ? { name: o.name } : {}),
  });
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new ModelFileError(o.out, `cannot be made as a folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give a folder path that can be written');
  }
  // the teacher first, run.json last: a folder with run.json is a whole one
  for (const f of [...files.filter((f) => f.name !== RUN_JSON), ...files.filter((f) => f.name === RUN_JSON)]) writeFile(join(o.out, f.name), f.bytes);
  out(`wrote ${o.out}/: run.json (${runSummary(run)}), teacher.safetensors ("${model.config.name}")${run.student.fromTeacher ? '' : `, student-init.safetensors (a fresh ${run.student.network.type})`}`);
  out(`  run it: ${torchrunCommand(o.out, 'K')}  (K processes, one per GPU; plain python runs one)`);
  return 0;
}

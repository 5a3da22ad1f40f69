/** `pid-studio distill`: PID of a teacher into a one-step student, written as a student file (formats.md). */
import { appendFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { checkpointRunSettings, readCheckpoint } from '../core/checkpoint';
import { type NetworkFn, networkWithLabels, withLabels } from '../core/edm';
import { formatRelative } from '../core/format-numbers';
import { fixedLabels } from '../core/labels';
import { TrajectoryReference } from '../core/metrics';
import { type Teacher, loadTeacher, studentFileBytes } from '../core/models';
import { Rng } from '../core/rng';
import { PidRun } from '../core/run';
import { type MemoryLimit, type StepCost, DEFAULT_BUDGET_SECONDS, describeRunShape, formatSeconds, memoryLimitFor, planSettings, runShape } from '../core/plan';
import { measureStepCost } from '../core/plan-probe';
import type { LearnedNetworkSpec } from '../core/nets';
import { ModelFileError } from '../formats/errors';
import {
  PRESETS, PRESET_IDS, type PresetId, RUN_DEFAULTS, RUN_SETTING_SPECS, type RunSettingKey, type RunSettings, checkRunSetting,
} from '../formats/run-settings';
import { type OptionKind, UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { readBytes, readModelArg, writeFile, writeFileAtomic } from './io';
import { parseNetworkOption } from './network-option';
import { checkWritableOutputs } from './output-paths';
import { precondOption } from './precond-option';

/** Every flag of `distill`: one per run setting of the settings table, and the run's files and options. */
export const DISTILL_OPTIONS: Record<string, OptionKind> = {
  teacher: 'string', out: 'string', preset: 'string',
  ...Object.fromEntries(RUN_SETTING_SPECS.map((s) => [s.flag, s.kind === 'int' ? 'integer' : s.kind === 'number' ? 'number' : 'string'])),
  'student-network': 'string', backend: 'string', log: 'string', name: 'string', checkpoint: 'string', resume: 'flag',
  'checkpoint-every': 'number', precond: 'string', 'micro-batch': 'integer', minutes: 'number', force: 'flag',
};

/**
 * The CLI's settings in layers: the flags, then the plan for this teacher and machine (core/plan.ts: an image
 * teacher's batch, steps and evaluation cadence), then the Quick preset with a CPU's batch (256) and 4000 steps.
 * Evaluation: the plan's cadence, or every tenth of the run when the steps are set by hand or nothing planned.
 */
export function distillSettings(o: Partial<Record<string, string | number | boolean>>, plan: Partial<RunSettings> = {}): RunSettings {
  const preset = (o.preset as string | undefined) ?? 'quick';
  if (!PRESET_IDS.includes(preset as PresetId)) throw new UsageError(`distill: --preset must be one of ${PRESET_IDS.join(', ')} (got '${preset}')`);
  const s: Record<string, unknown> = { ...RUN_DEFAULTS, ...PRESETS[preset as PresetId].values, ...plan };
  for (const spec of RUN_SETTING_SPECS) if (o[spec.flag] !== undefined) s[spec.key] = o[spec.flag];
  if (o['eval-every'] === undefined && (plan.evalEvery === undefined || o.steps !== undefined)) s.evalEvery = Math.max(1, Math.round((s.steps as number) / 10));
  return checkedSettings(s);
}

/** --minutes and --micro-batch, checked before anything is read. */
function planOptions(o: Partial<Record<string, string | number | boolean>>): { budgetSeconds: number; microBatch?: number } {
  const minutes = (o.minutes as number | undefined) ?? DEFAULT_BUDGET_SECONDS / 60;
  if (!(minutes > 0)) throw new UsageError(`distill: --minutes must be a positive number (got '${o.minutes}')`);
  const micro = o['micro-batch'] as number | undefined;
  if (micro !== undefined && micro < 1) throw new UsageError(`distill: --micro-batch must be at least 1 (got '${micro}')`);
  return { budgetSeconds: minutes * 60, ...(micro !== undefined ? { microBatch: micro } : {}) };
}

function checkedSettings(s: Record<string, unknown>): RunSettings {
  for (const spec of RUN_SETTING_SPECS) {
    const r = checkRunSetting(spec.key as RunSettingKey, s[spec.key], `--${spec.flag}`);
    if (!r.ok) throw new UsageError(`distill: ${r.error} (got '${s[spec.key]}')`);
  }
  return s as unknown as RunSettings;
}

/**
 * An image teacher's cost on this backend (two short timings of real steps), from which the plan and the micro-batch
 * come; null for 2D data, whose runs the preset sizes and whose batches always fit.
 */
async function sizeRun(teacher: Teacher, network: LearnedNetworkSpec | undefined, budgetSeconds: number, out: (line: string) => void): Promise<{ cost: StepCost; limit: MemoryLimit } | null> {
  if (teacher.config.data.shape.length !== 3) return null;
  out(`sizing the run to this teacher and machine (about ${formatSeconds(budgetSeconds)} of training on ${tf.getBackend()})`);
  const limit = memoryLimitFor(tf.getBackend());
  const cost = await measureStepCost(teacher, { limit, progress: (what) => out(`  ${what}`), ...(network ? { network } : {}) });
  return { cost, limit };
}

/** Milliseconds of steps between two looks at the checkpoint timer (a tick also ends at each evaluation step). */
const CLI_TICK_MS = 2000;

/** The fixed validation noise and teacher reference of the progress lines: smaller for images, whose network calls cost more. */
const validationSize = (dataSize: number) => (dataSize <= 16 ? { points: 256, steps: 128 } : { points: 64, steps: 32 });

export async function distill(argv: string[], out: (line: string) => void): Promise<number> {
  const o = parseOptions(argv, DISTILL_OPTIONS, 'distill');
  if (typeof o.teacher !== 'string') throw new UsageError('distill: --teacher <model | builtin:NAME> is required');
  if (typeof o.out !== 'string') throw new UsageError('distill: --out <student.safetensors> is required');
  if (o.resume && typeof o.checkpoint !== 'string') throw new UsageError('distill: --resume needs --checkpoint <file> (the file to resume from)');
  const checkpointEvery = (o['checkpoint-every'] as number | undefined) ?? 30;
  if (!(checkpointEvery > 0)) throw new UsageError('distill: --checkpoint-every must be a positive number of seconds');
  const resumed = o.resume ? readCheckpoint(readBytes(o.checkpoint as string), o.checkpoint as string) : null;
  const planned = planOptions(o);
  const settingsWith = (plan: Partial<RunSettings>): RunSettings => {
    if (!resumed) return distillSettings(o, plan);
    // A resumed run keeps its settings and lr schedule; --steps may extend it.
    const saved = checkpointRunSettings(resumed.info);
    return checkedSettings({ ...saved, steps: (o.steps as number | undefined) ?? saved.steps, ...(o['eval-every'] !== undefined ? { evalEvery: o['eval-every'] } : {}) });
  };
  settingsWith({}); // the flags' problems before anything is read
  checkWritableOutputs([
    { flag: '--out', path: o.out },
    ...(typeof o.log === 'string' ? [{ flag: '--log', path: o.log, append: !!resumed }] : []),
    ...(typeof o.checkpoint === 'string' ? [{ flag: '--checkpoint', path: o.checkpoint }] : []),
  ], 'distill');

  const model = await readModelArg(o.teacher, { precond: precondOption(o.precond, 'distill') });
  const spec = typeof o['student-network'] === 'string' ? parseNetworkOption(o['student-network'], model.config.data, '--student-network', 'distill') : undefined;
  const backend = await startCliBackend(o.backend);
  const teacher = loadTeacher(model);
  const { config: tc } = teacher;
  const network = spec ?? resumed?.info.network;
  const sized = await sizeRun(teacher, network, planned.budgetSeconds, out);
  const settings = settingsWith(sized ? planSettings({ ...sized, image: true, budgetSeconds: planned.budgetSeconds }) : {});
  const shape = sized ? runShape(sized.cost, sized.limit, settings, planned.budgetSeconds, planned.microBatch) : null;
  if (shape && !shape.fits && !o.force) {
    // never an out-of-memory error on the defaults: say why before anything large is allocated
    throw new UsageError(`distill: ${shape.warning} (plan: ${describeRunShape(shape)}); --force tries it anyway`);
  }
  const microBatch = planned.microBatch ?? shape?.microBatch;
  const run = new PidRun(teacher, settings, { network, tickMs: CLI_TICK_MS, ...(microBatch !== undefined ? { microBatch } : {}) });
  const { trainer, student } = run;
  if (resumed) {
    const mismatch = run.mismatch(resumed.info);
    if (mismatch) throw new ModelFileError(o.checkpoint as string, `checkpoint ${mismatch}`, 'resume with the same --teacher and --student-network, or start a new run without --resume');
    run.resume(resumed.state);
  }
  const saveCheckpoint = async () => {
    if (typeof o.checkpoint === 'string') writeFileAtomic(o.checkpoint, await run.checkpoint());
  };
  const size = tc.data.shape.reduce((a, b) => a * b, 1);
  const validation = validationSize(size);
  const zVal = tf.tensor(new Rng(settings.seed + 2).normals(validation.points * size, tc.edm.sigma_max), [validation.points, ...tc.data.shape]);
  const valLabels = fixedLabels(teacher.labelDim, validation.points);
  const reference = new TrajectoryReference(withLabels(teacher.denoiser, valLabels), tc.edm, zVal, validation.steps, teacher.precond);
  const errorOf = (F: NetworkFn) => reference.errorOf(networkWithLabels(F, valLabels));
  // The weights a student file holds, which the progress lines and the final line both measure.
  const exported = run.exportedNetwork();
  const weights = trainer.ema ? 'EMA weights' : 'raw weights';
  if (typeof o.log === 'string' && !resumed) writeFileSync(o.log, '');
  const log = (record: object) => typeof o.log === 'string' && appendFileSync(o.log, JSON.stringify(record) + '\n');

  const s = settings;
  out(`distilling "${tc.name}" into a ${student.spec.type} student (${student.parameterCount.toLocaleString('en-US')} parameters, ${run.fromTeacher ? "initialised from the teacher's weights" : 'fresh initialisation'})`);
  out(`  ${s.steps} steps, batch ${s.batch}, N ${s.N}, ${s.loss}, ${s.optimizer} lr ${s.lr}${s.lrFinal !== s.lr ? ` -> ${s.lrFinal}` : ''}, ema ${s.ema}, seed ${s.seed}, evaluation every ${s.evalEvery} steps, backend ${backend}`);
  if (shape) {
    out(`  plan: ${describeRunShape(shape)} (memory limit: ${shape.limit.why})`);
    if (shape.warning) out(`  warning: ${shape.warning}`);
  }
  if (resumed) out(`  resuming from ${o.checkpoint} at step ${trainer.step} (saved ${resumed.info.savedAt})`);
  const start = performance.now();
  const startStep = trainer.step;
  let lastSave = start;
  let smoothed = NaN;
  while (!run.done) {
    const tick = await run.tick();
    for (const m of tick.steps) {
      log(m);
      if (m.skipped) out(`  step ${m.step + 1}: loss ${m.loss}, gradient norm ${m.gradNorm}: skipped (${trainer.skippedSteps} so far, ${trainer.restores} restores)`);
      else smoothed = Number.isNaN(smoothed) ? m.loss : 0.98 * smoothed + 0.02 * m.loss;
    }
    if (performance.now() - lastSave > checkpointEvery * 1000) {
      await saveCheckpoint();
      lastSave = performance.now();
    }
    if (tick.evaluate) {
      const i = trainer.step;
      const err = await errorOf(exported);
      const elapsed = (performance.now() - start) / 1000;
      const rate = (i - startStep) / elapsed; // wall time, evaluations included, so the ETA holds
      log({ step: i, trajectoryRmse: err.rmsePath, oneStepRmse: err.rmseEnd, oneStepRelative: err.relEnd });
      out(`  step ${i}/${s.steps}  loss ${smoothed.toExponential(3)}  ${weights}: trajectory rmse ${err.rmsePath.toFixed(4)}, one-step ${formatRelative(err.relEnd)}  ${rate.toFixed(1)} steps/s  ETA ${((s.steps - i) / rate).toFixed(0)} s`);
    }
  }
  await saveCheckpoint();
  const final = await errorOf(exported);
  writeFile(o.out, await studentFileBytes(run.studentConfig(o.name as string | undefined), run.exportParams()));
  out(`wrote ${o.out}: ${weights}, one-step error to the teacher's ODE (Heun, ${validation.steps} points, ${validation.points} noise draws): rmse ${final.rmseEnd.toFixed(4)}, relative ${formatRelative(final.relEnd)}; whole-trajectory rmse ${final.rmsePath.toFixed(4)}`);
  log({ step: trainer.step, final: true, trajectoryRmse: final.rmsePath, oneStepRmse: final.rmseEnd, oneStepRelative: final.relEnd, seconds: (performance.now() - start) / 1000 });
  reference.dispose();
  tf.dispose(valLabels ? [zVal, valLabels] : [zVal]);
  run.dispose();
  teacher.dispose();
  return 0;
}

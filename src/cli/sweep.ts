/**
 * `pid-studio sweep`: one distillation per value of one run setting (core/sweep.ts), the others as `distill` takes
 * them; one line per finished run, and results.json rewritten after each, so a long sweep keeps what it measured.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatRelative } from '../core/format-numbers';
import { loadTeacher, studentFileBytes } from '../core/models';
import { Sweep, SweepError, type SweepRow, planSweep, sweepResults, sweepValidationSize } from '../core/sweep';
import { type OptionKind, UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { DISTILL_OPTIONS, distillSettings } from './distill';
import { readModelArg, writeFile, writeFileAtomic } from './io';
import { parseNetworkOption } from './network-option';
import { type OutputPath, checkWritableOutputs } from './output-paths';
import { precondOption } from './precond-option';

/** distill's flags that belong to one run continued over time, not to a sweep of fresh runs. */
const ONE_RUN_FLAGS = ['checkpoint', 'checkpoint-every', 'resume'];

/** distill's flags of its plan for the machine: a sweep's runs take the settings as given (and the whole batch at once). */
const PLAN_FLAGS = ['micro-batch', 'minutes', 'force'];

/** distill's flags (its run settings, teacher, network, backend, log, name) but ONE_RUN_FLAGS and PLAN_FLAGS, and --sweep and --students. */
export const SWEEP_OPTIONS: Record<string, OptionKind> = {
  ...Object.fromEntries(Object.entries(DISTILL_OPTIONS).filter(([f]) => !ONE_RUN_FLAGS.includes(f) && !PLAN_FLAGS.includes(f))), sweep: 'string', students: 'string',
};

/** Milliseconds of steps per tick (a tick also ends at each evaluation step). */
const CLI_TICK_MS = 2000;

const valueText = (v: number | string) => String(v);
const slug = (t: string) => t.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '') || 'student';

export async function sweep(argv: string[], out: (line: string) => void): Promise<number> {
  const oneRun = argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]).find((f) => ONE_RUN_FLAGS.includes(f));
  if (oneRun) throw new UsageError(`sweep: --${oneRun} is for one distill run; every run of a sweep starts afresh`);
  const o = parseOptions(argv, SWEEP_OPTIONS, 'sweep');
  if (typeof o.teacher !== 'string') throw new UsageError('sweep: --teacher <model | builtin:NAME> is required');
  if (typeof o.sweep !== 'string') throw new UsageError('sweep: --sweep NAME=V1,V2,... is required (NAME: a run setting such as N, lr, batch, steps)');
  if (typeof o.out !== 'string') throw new UsageError('sweep: --out <results.json> is required');
  let base;
  try {
    base = distillSettings(o);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message.replace(/^distill: /, 'sweep: '));
    throw e;
  }
  let plan;
  try {
    plan = planSweep(o.sweep, base, { evalEveryFollowsSteps: o['eval-every'] === undefined });
  } catch (e) {
    if (e instanceof SweepError) throw new UsageError(`sweep: ${e.message}`);
    throw e;
  }
  const flag = plan.spec.flag;
  if (o[flag] !== undefined) throw new UsageError(`sweep: --${flag} and --sweep ${plan.key}=... both set ${plan.key}; give its values in --sweep only`);
  const studentsDir = typeof o.students === 'string' ? o.students : null;
  const studentPath = (v: number | string) => join(studentsDir!, `${slug(typeof o.name === 'string' ? o.name : 'student')}-${plan.key}-${slug(valueText(v))}.safetensors`);
  const outputs: OutputPath[] = [
    { flag: '--out', path: o.out },
    ...(typeof o.log === 'string' ? [{ flag: '--log', path: o.log }] : []),
    ...(studentsDir !== null ? [{ flag: '--students', path: studentPath(plan.values[0]) }] : []),
  ];
  checkWritableOutputs(outputs, 'sweep');

  const model = await readModelArg(o.teacher, { precond: precondOption(o.precond, 'sweep') });
  const network = typeof o['student-network'] === 'string' ? parseNetworkOption(o['student-network'], model.config.data, '--student-network', 'sweep') : undefined;
  const backend = await startCliBackend(o.backend);
  const teacher = loadTeacher(model);
  const tc = teacher.config;
  if (typeof o.log === 'string') writeFileSync(o.log, '');
  const log = (record: object) => typeof o.log === 'string' && appendFileSync(o.log, JSON.stringify(record) + '\n');
  const key = plan.key;
  const s = base;
  const fixed = `${s.steps} steps, batch ${s.batch}, N ${s.N}, ${s.loss}, ${s.optimizer} lr ${s.lr}${s.lrFinal !== s.lr ? ` -> ${s.lrFinal}` : ''}, ema ${s.ema}, seed ${s.seed}`;
  out(`sweeping ${key} over ${plan.values.map(valueText).join(', ')} on "${tc.name}": ${plan.values.length} runs of ${fixed} (${key} replaced), backend ${backend}`);

  const save = (rows: SweepRow[]) => writeFileAtomic(o.out as string, new TextEncoder().encode(`${JSON.stringify(sweepResults(tc.name, key, rows), null, 2)}\n`));
  const run = new Sweep(teacher, plan, {
    network,
    tickMs: CLI_TICK_MS,
    finished: async (r, row, i) => {
      const euler = row.gridEulerRelative !== undefined ? `, grid Euler ${formatRelative(row.gridEulerRelative)}` : '';
      out(`  ${i + 1}/${plan.values.length} ${key} ${valueText(row.value)}: one-step ${formatRelative(row.oneStepRelative)} (rmse ${row.oneStepRmse.toFixed(4)}), trajectory rmse ${row.trajectoryRmse.toFixed(4)}${euler}; loss ${row.lastLoss.toExponential(3)}, ${row.seconds.toFixed(1)} s`);
      log({ run: i, value: row.value, final: true, step: row.steps, oneStepRelative: row.oneStepRelative, oneStepRmse: row.oneStepRmse, trajectoryRmse: row.trajectoryRmse, seconds: row.seconds, ...(row.gridEulerRelative !== undefined ? { gridEulerRelative: row.gridEulerRelative } : {}) });
      if (studentsDir !== null) writeFile(studentPath(row.value), await studentFileBytes(r.studentConfig(typeof o.name === 'string' ? o.name : undefined), r.exportParams()));
      save(run.rows);
    },
  });
  try {
    while (!run.done) {
      const t = await run.tick();
      for (const m of t.tick.steps) log({ run: t.index, value: plan.values[t.index], ...m });
    }
  } finally {
    run.dispose();
    teacher.dispose();
  }
  const v = sweepValidationSize(teacher);
  out(`wrote ${o.out}: ${run.rows.length} runs; errors against the teacher's ODE (Heun, ${v.steps} points, ${v.points} noise draws${run.rows.some((r) => r.gridEulerRelative !== undefined) ? "; grid Euler: Euler's method on the run's N-point grid from the same noise" : ''})`);
  return 0;
}

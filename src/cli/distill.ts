/** `pid-studio distill`: PID of a teacher into a one-step student, written as a student file (formats.md). */
import { appendFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { type NetworkFn, networkWithLabels, withLabels } from '../core/edm';
import { fixedLabels } from '../core/labels';
import { TrajectoryReference } from '../core/metrics';
import { createStudentNetwork, loadTeacher, studentConfig, studentFileBytes } from '../core/models';
import { LOSS_NAMES, type LossName, PID_DEFAULTS, PidTrainer, type PidSettings, exponentialLr } from '../core/pid';
import { Rng } from '../core/rng';
import { ModelFileError } from '../formats/errors';
import { UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { readBytes, readModelArg, writeFile, writeFileAtomic } from './io';
import { parseNetworkOption } from './network-option';
import { precondOption } from './precond-option';
import { checkpointMismatch, readCheckpoint, trainerCheckpoint } from '../core/checkpoint';

/**
 * CLI defaults: the paper's N, loss, optimiser and EMA (PID_DEFAULTS), with steps, batch and a decaying lr that suit a
 * CPU and 2D data (measured on moons-mlp: the paper's constant 2e-4 is still 63% off after 2000 steps; README).
 */
export const DISTILL_DEFAULTS = { ...PID_DEFAULTS, steps: 4000, batch: 256, lr: 1e-2, lr_final: 1e-4 };

/** The fixed validation noise and teacher reference of the progress lines: smaller for images, whose network calls cost more. */
const validationSize = (dataSize: number) => (dataSize <= 16 ? { points: 256, steps: 128 } : { points: 64, steps: 32 });

export async function distill(argv: string[], out: (line: string) => void): Promise<number> {
  const o = parseOptions(
    argv,
    { teacher: 'string', out: 'string', steps: 'integer', batch: 'integer', lr: 'number', 'lr-final': 'number', N: 'integer', loss: 'string', optimizer: 'string', ema: 'number', seed: 'integer', 'student-network': 'string', backend: 'string', log: 'string', name: 'string', checkpoint: 'string', resume: 'flag', 'checkpoint-every': 'number', precond: 'string' },
    'distill',
  );
  if (typeof o.teacher !== 'string') throw new UsageError('distill: --teacher <model | builtin:NAME> is required');
  if (typeof o.out !== 'string') throw new UsageError('distill: --out <student.safetensors> is required');
  if (o.resume && typeof o.checkpoint !== 'string') throw new UsageError('distill: --resume needs --checkpoint <file> (the file to resume from)');
  const checkpointEvery = (o['checkpoint-every'] as number | undefined) ?? 30;
  if (!(checkpointEvery > 0)) throw new UsageError('distill: --checkpoint-every must be a positive number of seconds');
  const resumed = o.resume ? readCheckpoint(readBytes(o.checkpoint as string), o.checkpoint as string) : null;
  const d = DISTILL_DEFAULTS;
  let settings: PidSettings = {
    N: (o.N as number) ?? d.N,
    loss: ((o.loss as string) ?? d.loss) as LossName,
    optimizer: ((o.optimizer as string) ?? d.optimizer) as PidSettings['optimizer'],
    lr: (o.lr as number) ?? d.lr,
    batch: (o.batch as number) ?? d.batch,
    ema: (o.ema as number) ?? d.ema,
    seed: (o.seed as number) ?? d.seed,
  };
  let steps = (o.steps as number) ?? d.steps;
  let lrFinal = (o['lr-final'] as number | undefined) ?? d.lr_final;
  if (resumed) {
    // A resumed run keeps its settings and lr schedule; --steps may extend it.
    settings = resumed.info.settings;
    lrFinal = resumed.info.lrFinal;
    steps = (o.steps as number | undefined) ?? resumed.info.steps;
  }
  if (!LOSS_NAMES.includes(settings.loss)) throw new UsageError(`distill: --loss must be one of ${LOSS_NAMES.join(', ')} (got '${settings.loss}')`);
  if (settings.optimizer !== 'radam' && settings.optimizer !== 'adam') throw new UsageError(`distill: --optimizer must be radam or adam (got '${settings.optimizer}')`);
  if (settings.N < 2) throw new UsageError('distill: --N must be at least 2');
  if (!(settings.lr > 0)) throw new UsageError('distill: --lr must be positive');
  if (!(lrFinal > 0)) throw new UsageError('distill: --lr-final must be positive');
  if (settings.batch < 1) throw new UsageError('distill: --batch must be at least 1');
  if (steps < 0) throw new UsageError('distill: --steps must be 0 or more');
  if (!(settings.ema >= 0 && settings.ema < 1)) throw new UsageError('distill: --ema must be in [0, 1)');
  if (settings.seed < 0) throw new UsageError('distill: --seed must be 0 or more');

  const model = await readModelArg(o.teacher, { precond: precondOption(o.precond, 'distill') });
  const spec = typeof o['student-network'] === 'string' ? parseNetworkOption(o['student-network'], model.config.data, '--student-network', 'distill') : undefined;
  const backend = await startCliBackend(o.backend);
  const teacher = loadTeacher(model);
  const { config: tc } = teacher;
  const { network, fromTeacher } = createStudentNetwork(teacher, spec ?? resumed?.info.network, new Rng(settings.seed + 1));
  const trainer = new PidTrainer({ teacher: teacher.denoiser, student: network, edm: tc.edm, settings, precond: teacher.precond, labelDim: teacher.labelDim });
  if (resumed) {
    const mismatch = checkpointMismatch(resumed.info, teacher.sha256, network.spec);
    if (mismatch) throw new ModelFileError(o.checkpoint as string, `checkpoint ${mismatch}`, 'resume with the same --teacher and --student-network, or start a new run without --resume');
    trainer.loadState(resumed.state);
  }
  const saveCheckpoint = async () => {
    if (typeof o.checkpoint !== 'string') return;
    writeFileAtomic(o.checkpoint, await trainerCheckpoint(trainer, { teacher: { name: tc.name, sha256: teacher.sha256 }, network: network.spec, steps, lrFinal }));
  };
  const size = tc.data.shape.reduce((a, b) => a * b, 1);
  const validation = validationSize(size);
  const zVal = tf.tensor(new Rng(settings.seed + 2).normals(validation.points * size, tc.edm.sigma_max), [validation.points, ...tc.data.shape]);
  const valLabels = fixedLabels(teacher.labelDim, validation.points);
  const reference = new TrajectoryReference(withLabels(teacher.denoiser, valLabels), tc.edm, zVal, validation.steps, teacher.precond);
  const errorOf = (F: NetworkFn) => reference.errorOf(networkWithLabels(F, valLabels));
  if (typeof o.log === 'string' && !resumed) writeFileSync(o.log, '');
  const log = (record: object) => typeof o.log === 'string' && appendFileSync(o.log, JSON.stringify(record) + '\n');

  out(`distilling "${tc.name}" into a ${network.spec.type} student (${network.parameterCount.toLocaleString('en-US')} parameters, ${fromTeacher ? "initialised from the teacher's weights" : 'fresh initialisation'})`);
  out(`  ${steps} steps, batch ${settings.batch}, N ${settings.N}, ${settings.loss}, ${settings.optimizer} lr ${settings.lr}${lrFinal !== settings.lr ? ` -> ${lrFinal}` : ''}, ema ${settings.ema}, seed ${settings.seed}, backend ${backend}`);
  if (resumed) out(`  resuming from ${o.checkpoint} at step ${trainer.step} (saved ${resumed.info.savedAt})`);
  const start = performance.now();
  const startStep = trainer.step;
  let lastSave = start;
  let smoothed = NaN;
  while (trainer.step < steps) {
    trainer.setLearningRate(exponentialLr(trainer.step + 1, steps, settings.lr, lrFinal));
    const m = await trainer.trainStep();
    log({ ...m, lr: trainer.optimizer.lr });
    if (m.skipped) {
      out(`  step ${m.step + 1}: loss ${m.loss}, gradient norm ${m.gradNorm}: skipped (${trainer.skippedSteps} so far, ${trainer.restores} restores)`);
      continue;
    }
    const i = m.step;
    if (performance.now() - lastSave > checkpointEvery * 1000) {
      await saveCheckpoint();
      lastSave = performance.now();
    }
    smoothed = Number.isNaN(smoothed) ? m.loss : 0.98 * smoothed + 0.02 * m.loss;
    if (i % Math.max(1, Math.round(steps / 10)) === 0 || i === steps) {
      const elapsed = (performance.now() - start) / 1000;
      const rate = (i - startStep) / elapsed;
      const err = await errorOf(network.apply);
      log({ step: i, trajectoryRmse: err.rmsePath, oneStepRmse: err.rmseEnd });
      out(`  step ${i}/${steps}  loss ${smoothed.toExponential(3)}  trajectory rmse ${err.rmsePath.toFixed(4)}  ${rate.toFixed(1)} steps/s  ETA ${((steps - i) / rate).toFixed(0)} s`);
    }
  }
  await saveCheckpoint();
  const exported = trainer.exportParams();
  const final = await errorOf(network.withWeights(exported));
  const config = studentConfig(tc, teacher.sha256, network.spec, { ...settings, steps, ...(lrFinal !== settings.lr ? { lr_final: lrFinal } : {}) }, o.name as string | undefined);
  writeFile(o.out, await studentFileBytes(config, exported));
  out(`wrote ${o.out}: one-step error to the teacher's ODE (Heun, ${validation.steps} points, ${validation.points} noise draws): rmse ${final.rmseEnd.toFixed(4)}, relative ${final.relEnd.toFixed(4)}; whole-trajectory rmse ${final.rmsePath.toFixed(4)}`);
  log({ step: steps, final: true, trajectoryRmse: final.rmsePath, oneStepRmse: final.rmseEnd, oneStepRelative: final.relEnd, seconds: (performance.now() - start) / 1000 });
  reference.dispose();
  tf.dispose(valLabels ? [zVal, valLabels] : [zVal]);
  trainer.dispose();
  network.dispose();
  teacher.dispose();
  return 0;
}

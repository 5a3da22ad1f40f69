/**
 * A sweep: one PID run per value of one run setting, everything else the same (seed, budget, schedule), each student
 * measured against the teacher's ODE when its run ends. The CLI's `sweep` and the studio's Sweep panel both drive a
 * Sweep, so the same values give the same runs, losses and errors in both.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RunSettingKey } from '../formats/run-settings';
import { type NetworkFn, karrasSigmas, networkWithLabels, withLabels } from './edm';
import { fixedLabels } from './labels';
import { TrajectoryReference, type TrajectoryError } from './metrics';
import { type Teacher, dataSize } from './models';
import type { LearnedNetworkSpec } from './nets';
import { PidRun, type RunTick } from './run';
import { Rng } from './rng';
import { sampleEuler } from './samplers';
import type { SweepPlan, SweepValue } from './sweep-plan';

export { SweepError, type SweepPlan, type SweepValue, type PlanOptions, sweepSetting, parseSweepText, planSweepValues, planSweep } from './sweep-plan';

/** Heun points of the reference for an analytic teacher: its error is far below Euler's on the finest grid swept. */
export const ANALYTIC_REFERENCE_STEPS = 1024;

/**
 * The validation noise and reference of a sweep: as distill's final line (256 noises and 128 Heun points for data of
 * up to 16 elements, 64 and 32 for images; noise from seed + 2), but for an analytic teacher the reference takes
 * ANALYTIC_REFERENCE_STEPS points and the Euler error is measured too.
 */
export function sweepValidationSize(teacher: Teacher): { points: number; steps: number } {
  if (dataSize(teacher.config.data.shape) > 16) return { points: 64, steps: 32 };
  return { points: 256, steps: teacher.network === null ? ANALYTIC_REFERENCE_STEPS : 128 };
}

/** The teacher's ODE solution from fixed noise, and what a student and a grid are measured against. */
export class SweepReference {
  readonly trajectory: TrajectoryReference;
  readonly z: tf.Tensor;
  private readonly labels: tf.Tensor2D | undefined;
  /** The end of the exact solution where there is a closed form (a single Gaussian), else null. */
  private readonly exactEnd: tf.Tensor | null;

  constructor(readonly teacher: Teacher, seed: number) {
    const { config } = teacher;
    const size = sweepValidationSize(teacher);
    this.z = tf.tensor(new Rng(seed + 2).normals(size.points * dataSize(config.data.shape), config.edm.sigma_max), [size.points, ...config.data.shape]);
    this.labels = fixedLabels(teacher.labelDim, size.points);
    this.trajectory = new TrajectoryReference(withLabels(teacher.denoiser, this.labels), config.edm, this.z, size.steps, teacher.precond);
    this.exactEnd = singleGaussianEnd(teacher, this.z);
  }

  /** The teacher is a Gaussian mixture: its denoiser is exact, and the grid's Euler error means something. */
  get analytic(): boolean {
    return this.teacher.network === null && this.teacher.config.network.type === 'gaussian-mixture';
  }

  errorOf(F: NetworkFn): Promise<TrajectoryError> {
    return this.trajectory.errorOf(networkWithLabels(F, this.labels));
  }

  /**
   * The one-step error PID's optimum has on an N-point grid (Euler's method on that Karras grid, from the same
   * noise: a zero residual at every grid pair is an Euler step), relative as a student's: ||x_Euler - x|| / ||x||
   * against the closed form when there is one, else the fine reference. Null for a learned teacher.
   */
  async gridEulerRelative(N: number): Promise<number | null> {
    if (!this.analytic) return null;
    const { edm } = this.teacher.config;
    const { x } = sampleEuler(this.teacher.denoiser, this.z, karrasSigmas(N, edm.sigma_min, edm.sigma_max, edm.rho));
    const ref = this.exactEnd ?? this.trajectory.end;
    const ratio = tf.tidy(() => tf.sqrt(tf.div(tf.mean(tf.square(tf.sub(x, ref))), tf.mean(tf.square(ref)))));
    x.dispose();
    const [r] = await ratio.data();
    ratio.dispose();
    return r;
  }

  dispose(): void {
    this.trajectory.dispose();
    tf.dispose([this.z, ...[this.labels, this.exactEnd].filter((t) => t != null)]);
  }
}

/**
 * A single Gaussian N(mu, s^2 I) makes the ODE linear, D(x, t) = mu + s^2/(s^2 + t^2) (x - mu), and its solution
 * x(t) = mu + (z - mu) sqrt(s^2 + t^2) / sqrt(s^2 + T^2); this is x(sigma_min), or null for any other teacher.
 */
function singleGaussianEnd(teacher: Teacher, z: tf.Tensor): tf.Tensor | null {
  const net = teacher.config.network;
  if (teacher.network !== null || net.type !== 'gaussian-mixture' || net.weights.length !== 1) return null;
  const { sigma_min: t, sigma_max: T } = teacher.config.edm;
  const s = net.stds[0];
  const k = Math.sqrt(s * s + t * t) / Math.sqrt(s * s + T * T);
  return tf.tidy(() => {
    const mu = tf.reshape(tf.tensor1d(net.means[0]), [1, ...z.shape.slice(1)]);
    return tf.add(mu, tf.mul(tf.sub(z, mu), k));
  });
}

/** One finished run of a sweep, as results.json holds it (`value` under the setting's key there). */
export interface SweepRow {
  value: SweepValue;
  oneStepRelative: number;
  oneStepRmse: number;
  trajectoryRmse: number;
  /** Training and the final measurement of the student, pauses excluded. */
  seconds: number;
  /** Analytic teachers: the grid's Euler error (swept N or not, it is the run's N grid). */
  gridEulerRelative?: number;
  /** The loss of the run's last step that was taken (not in results.json: the progress line prints it). */
  lastLoss: number;
  steps: number;
}

export interface SweepTick {
  /** Index of the run the tick worked on. */
  index: number;
  tick: RunTick;
  /** Set when that run ended with this tick. */
  row: SweepRow | null;
  done: boolean;
}

export interface SweepOptions {
  network?: LearnedNetworkSpec;
  tickMs?: number;
  /** Called with each run when it has ended, before it is disposed (to write or keep its student). */
  finished?(run: PidRun, row: SweepRow, index: number): Promise<void> | void;
}

export class Sweep {
  readonly rows: SweepRow[] = [];
  private index = 0;
  private run: PidRun | null = null;
  private ms = 0;
  private lastLoss = NaN;
  private reference: SweepReference | null = null;
  private disposed = false;

  constructor(readonly teacher: Teacher, readonly plan: SweepPlan, private readonly o: SweepOptions = {}) {}

  get done(): boolean {
    return this.index >= this.plan.runs.length;
  }

  /** The run in progress (null before its first tick and after the last run). */
  get current(): PidRun | null {
    return this.run;
  }

  get runIndex(): number {
    return this.index;
  }

  /** The reference is solved on the first tick (it takes a moment for an analytic teacher's fine grid). */
  private referenceOf(): SweepReference {
    this.reference ??= new SweepReference(this.teacher, this.plan.base.seed);
    return this.reference;
  }

  /** Takes the current run one tick further; at its end measures it, reports it and moves to the next value. */
  async tick(): Promise<SweepTick> {
    if (this.disposed) throw new Error('the sweep has been disposed');
    if (this.done) return { index: this.index, tick: { steps: [], evaluate: false, done: true }, row: null, done: true };
    const reference = this.referenceOf();
    const started = performance.now();
    const index = this.index;
    if (!this.run) {
      this.run = new PidRun(this.teacher, this.plan.runs[index], { network: this.o.network, tickMs: this.o.tickMs });
      this.ms = 0;
      this.lastLoss = NaN;
    }
    const run = this.run;
    const tick = await run.tick();
    for (const m of tick.steps) if (!m.skipped) this.lastLoss = m.loss;
    if (!tick.done) {
      this.ms += performance.now() - started;
      return { index, tick, row: null, done: false };
    }
    const err = await reference.errorOf(run.exportedNetwork());
    this.ms += performance.now() - started;
    const euler = await reference.gridEulerRelative(run.settings.N);
    const row: SweepRow = {
      value: this.plan.values[index], oneStepRelative: err.relEnd, oneStepRmse: err.rmseEnd, trajectoryRmse: err.rmsePath,
      seconds: this.ms / 1000, ...(euler !== null ? { gridEulerRelative: euler } : {}), lastLoss: this.lastLoss, steps: run.step,
    };
    this.rows.push(row);
    try {
      await this.o.finished?.(run, row, index);
    } finally {
      run.dispose();
      this.run = null;
      this.index++;
    }
    return { index, tick, row, done: this.done };
  }

  dispose(): void {
    this.disposed = true;
    this.run?.dispose();
    this.run = null;
    this.reference?.dispose();
    this.reference = null;
  }
}

/** results.json: the teacher, the setting swept and one object per run with the value under the setting's key. */
export interface SweepResults {
  teacher: string;
  sweep: RunSettingKey;
  runs: Record<string, SweepValue | number>[];
}

export function sweepResults(teacher: string, key: RunSettingKey, rows: SweepRow[]): SweepResults {
  return {
    teacher,
    sweep: key,
    runs: rows.map((r) => ({
      [key]: r.value, oneStepRelative: r.oneStepRelative, oneStepRmse: r.oneStepRmse, trajectoryRmse: r.trajectoryRmse,
      seconds: Math.round(r.seconds * 1000) / 1000, ...(r.gridEulerRelative !== undefined ? { gridEulerRelative: r.gridEulerRelative } : {}),
    })),
  };
}

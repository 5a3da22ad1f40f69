/**
 * One distillation run: its plan (steps, lr schedule, evaluation and checkpoint cadence) over a PidTrainer, which
 * owns the step and the fault policy. The CLI and the studio's worker both drive a PidRun and only show what it
 * reports, so the same settings give the same losses, learning rates and evaluation steps in both.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { RunSettings } from '../formats/run-settings';
import type { NetworkFn } from './edm';
import type { HostTensor } from './nets/params';
import { type CheckpointInfo, checkpointMismatch, trainerCheckpoint } from './checkpoint';
import { type Teacher, createStudentNetwork, studentConfig } from './models';
import type { LearnedNetworkSpec, Network } from './nets';
import { PidTrainer, type StepMetrics, type TrainerState, exponentialLr } from './pid';
import { pidSettingsOf } from './pid-settings';
import { Rng } from './rng';
import type { PidStudioConfig } from '../formats/config';

export interface RunStep extends StepMetrics {
  /** The learning rate this step was taken with: the schedule's, halved once per fault restore. */
  lr: number;
}

export interface RunTick {
  /** The steps taken since the last tick, in order (skipped ones included, marked). */
  steps: RunStep[];
  /** The student should be measured now: an evaluation step (a multiple of evalEvery) or the end was reached. */
  evaluate: boolean;
  /** The run reached its last step. */
  done: boolean;
}

export interface PidRunOptions {
  /** The student network; absent: the teacher's architecture (initialised from its weights) or the default MLP. */
  network?: LearnedNetworkSpec;
  /** Starting weights for the student (e.g. a built-in student continued), instead of a fresh or teacher initialisation. */
  initialWeights?: Map<string, HostTensor>;
  /** Milliseconds of steps one tick may take before it returns (the worker keeps pause responsive with it). */
  tickMs?: number;
  /** Samples per forward and backward pass (core/plan.ts sizes it to the memory); absent: the whole batch. */
  microBatch?: number;
}

/** Steps of the first tick, before a step's duration is known. */
const FIRST_TICK_STEPS = 1;

export class PidRun {
  readonly trainer: PidTrainer;
  readonly student: Network;
  /** The student started from the teacher's weights (same architecture). */
  readonly fromTeacher: boolean;
  readonly settings: RunSettings;
  private readonly tickMs: number;
  private stepMs = NaN;

  constructor(readonly teacher: Teacher, settings: RunSettings, o: PidRunOptions = {}) {
    this.settings = { ...settings };
    const { network, fromTeacher } = createStudentNetwork(teacher, o.network, new Rng(settings.seed + 1), o.initialWeights);
    this.student = network;
    this.fromTeacher = fromTeacher;
    this.trainer = new PidTrainer({
      teacher: teacher.denoiser, student: network, edm: teacher.config.edm,
      settings: { ...pidSettingsOf(settings), ...(o.microBatch !== undefined ? { microBatch: o.microBatch } : {}) },
      precond: teacher.precond, labelDim: teacher.labelDim,
    });
    this.tickMs = o.tickMs ?? Infinity;
  }

  get step(): number {
    return this.trainer.step;
  }

  /** Samples per forward and backward pass: the batch, or the micro-batch it is split into. */
  get microBatch(): number {
    return Math.min(this.settings.batch, this.trainer.settings.microBatch ?? this.settings.batch);
  }

  get done(): boolean {
    return this.trainer.step >= this.settings.steps;
  }

  /** The schedule's base learning rate of step `step` (1-based): exponential from lr to lrFinal over the run. */
  lrAt(step: number): number {
    const { steps, lr, lrFinal } = this.settings;
    return exponentialLr(step, steps, lr, lrFinal);
  }

  isEvaluationStep(step: number): boolean {
    return step >= this.settings.steps || step % this.settings.evalEvery === 0;
  }

  /** Lengthens (or shortens) the run; the schedule is stretched to the new end. */
  setTotalSteps(steps: number): void {
    this.settings.steps = steps;
  }

  /**
   * Takes steps until the next evaluation step, the end, or tickMs, whichever comes first. A step whose loss is not
   * finite changed nothing and is reported as skipped; the trainer's fault policy may also send the step count back.
   */
  async tick(): Promise<RunTick> {
    if (this.done) return { steps: [], evaluate: false, done: true };
    const { evalEvery, steps: total } = this.settings;
    const step = this.trainer.step;
    const budget = Number.isFinite(this.stepMs) ? Math.max(1, Math.floor(this.tickMs / this.stepMs)) : FIRST_TICK_STEPS;
    const count = Math.min(budget, evalEvery - (step % evalEvery), total - step);
    const factor = this.trainer.lrFactor; // a restore (which halves it) ends the trainer's chunk
    const started = performance.now();
    const taken = await this.trainer.trainSteps(count, (n) => this.lrAt(n));
    this.stepMs = (performance.now() - started) / taken.length;
    const steps = taken.map((m) => ({ ...m, lr: this.lrAt(m.skipped ? m.step + 1 : m.step) * factor }));
    const progressed = steps.some((m) => !m.skipped);
    return { steps, evaluate: progressed && this.isEvaluationStep(this.trainer.step), done: this.done };
  }

  /** The run's checkpoint: everything needed to continue it exactly (core/checkpoint.ts). */
  checkpoint(): Promise<Uint8Array> {
    const t = this.teacher;
    return trainerCheckpoint(this.trainer, {
      teacher: { name: t.config.name, sha256: t.sha256 }, network: this.student.spec, steps: this.settings.steps,
      lrFinal: this.settings.lrFinal, evalEvery: this.settings.evalEvery,
    });
  }

  /** Why `info` cannot continue this run (another teacher or network), or null. */
  mismatch(info: CheckpointInfo): string | null {
    return checkpointMismatch(info, this.teacher.sha256, this.student.spec);
  }

  /** Continues from a checkpoint's state: same weights, moments, EMA, RNG, step and fault counters. */
  resume(state: TrainerState): void {
    this.trainer.loadState(state);
  }

  /** The weights a student file holds: the EMA when one is kept. */
  exportParams(): Map<string, tf.Tensor> {
    return this.trainer.exportParams();
  }

  /**
   * The student as a student file holds it (the EMA weights when one is kept), read afresh at each call: the EMA's
   * per-name views are brought up to date only when they are read.
   */
  exportedNetwork(): NetworkFn {
    if (!this.trainer.ema) return this.student.apply;
    return (x, c, labels) => this.student.withWeights(this.exportParams())(x, c, labels);
  }

  /** The student file's config for the run so far. */
  studentConfig(name?: string): PidStudioConfig {
    const s = this.settings;
    const t = this.teacher;
    return studentConfig(t.config, t.sha256, this.student.spec, {
      N: s.N, loss: s.loss, optimizer: s.optimizer, lr: s.lr, batch: s.batch, steps: this.trainer.step, ema: s.ema, seed: s.seed,
      ...(s.lrFinal !== s.lr ? { lr_final: s.lrFinal } : {}),
    }, name);
  }

  dispose(): void {
    this.trainer.dispose();
    this.student.dispose();
  }
}

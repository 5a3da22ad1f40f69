/**
 * Physics Informed Distillation (Tee et al., TMLR 2024), pid-method.md §3.
 *
 * The student x_theta(z, t) (student.ts) is a neural solution of the teacher's probability-flow ODE started at
 * x(T) = z. It is trained on the ODE residual
 *   y - t dy/dt ≈ D_phi(stopgrad(y), t),   dy/dt ≈ (y - y') / (t - t'),
 * at Karras grid points t = t_n, t' = t_{n+1} (t_{N-2} when n = N-1). At the optimum the grid values satisfy
 * y' = y - (t - t') (y - D(y, t)) / t: the student reproduces Euler's method on the same N-point grid.
 */
import * as tf from '@tensorflow/tfjs-core';
import './gradients';
import { type Denoiser, type EdmSchedule, type NetworkFn, karrasSigmas, networkWithLabels, perSample } from './edm';
import { oneHotLabels } from './labels';
import type { Precond } from './precond';
import { pidStudentX } from './student';

export { pidOneStep, pidStudentX } from './student';
export { LOSS_NAMES, OPTIMIZER_NAMES, PID_DEFAULTS, type LossName, type OptimizerName, type PidSettings } from './pid-settings';
import { type Network, bufferNames } from './nets';
import { MomentOptimizer, WeightEma } from './optim';
import type { LossName, PidSettings } from './pid-settings';
import type { HostTensor } from './nets/params';
import { Rng, type RngState } from './rng';
import { assignState, stateTensors, toHost } from './train-state';

/**
 * Learning rate at `step` (1-based) of `steps`: exponential decay from lr to lrFinal (an extension: the paper keeps
 * lr constant, which lrFinal = lr reproduces). Small 2D students on a CPU need a fast start and a fine finish.
 */
export function exponentialLr(step: number, steps: number, lr: number, lrFinal = lr): number {
  return steps <= 1 ? lr : lr * (lrFinal / lr) ** ((step - 1) / (steps - 1));
}

export interface StepMetrics {
  step: number;
  loss: number;
  gradNorm: number;
  stepMs: number;
  /** True when the loss or gradient was not finite and the step changed nothing. */
  skipped: boolean;
}

/** Per-sample distance d(residual, 0), [B]. Pseudo-Huber as in iCT (Song & Dhariwal 2023): sqrt(|r|^2 + c^2) - c, c = 0.00054 sqrt(dim). */
export function lossPerSample(name: LossName, residual: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const flat = tf.reshape(residual, [residual.shape[0], -1]);
    const dim = flat.shape[1]!;
    if (name === 'l2') return tf.mean(tf.square(flat), 1) as tf.Tensor1D;
    if (name === 'l1') return tf.mean(tf.abs(flat), 1) as tf.Tensor1D;
    const c = 0.00054 * Math.sqrt(dim);
    return tf.sub(tf.sqrt(tf.add(tf.sum(tf.square(flat), 1), c * c)), c) as tf.Tensor1D;
  });
}

/** The teacher under stop-gradient: its ops run inside a custom-gradient kernel, so they are not taped at all. */
export function stopGradDenoiser(teacher: Denoiser): (y: tf.Tensor, t: tf.Tensor1D, labels?: tf.Tensor2D) => tf.Tensor {
  const op = tf.customGrad(((y: tf.Tensor, t: tf.Tensor1D) => ({
    value: teacher.denoise(y, t),
    gradFunc: () => [tf.zerosLike(y), tf.zerosLike(t)],
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  const withLabelsOp = tf.customGrad(((y: tf.Tensor, t: tf.Tensor1D, labels: tf.Tensor2D) => ({
    value: teacher.denoise(y, t, labels),
    gradFunc: () => [tf.zerosLike(y), tf.zerosLike(t), tf.zerosLike(labels)],
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (y, t, labels) => (labels ? withLabelsOp(y, t, labels) : op(y, t)) as tf.Tensor;
}

/** The PID loss for one batch (§3): mean_b d(y - t (y - y') / (t - t') - D(stopgrad(y), t)). */
export function pidLoss(
  F: NetworkFn,
  teacherTarget: (y: tf.Tensor, t: tf.Tensor1D) => tf.Tensor,
  edm: EdmSchedule,
  loss: LossName,
  z: tf.Tensor,
  t: tf.Tensor1D,
  tNext: tf.Tensor1D,
  precond?: Precond,
): tf.Scalar {
  return tf.tidy(() => {
    const y = pidStudentX(F, edm, z, t, precond);
    const yNext = pidStudentX(F, edm, z, tNext, precond);
    const tB = perSample(t, z.rank);
    const dydt = tf.div(tf.sub(y, yNext), perSample(tf.sub(t, tNext) as tf.Tensor1D, z.rank));
    const residual = tf.sub(tf.sub(y, tf.mul(tB, dydt)), teacherTarget(y, t));
    return tf.mean(lossPerSample(loss, residual));
  });
}

/** Grid index pairs (n, n'), n uniform in {0..N-1}, n' = n + 1, or N - 2 at the end of the grid. */
export function drawGridPairs(rng: Rng, N: number, batch: number): [Int32Array, Int32Array] {
  const n = new Int32Array(batch);
  const nNext = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    n[i] = rng.int(N);
    nNext[i] = n[i] === N - 1 ? N - 2 : n[i] + 1;
  }
  return [n, nNext];
}

export interface PidTrainerOptions {
  teacher: Denoiser;
  /** The student's F_theta; its params must be trainable variables. */
  student: Network;
  edm: EdmSchedule;
  settings: PidSettings;
  /** The teacher's preconditioning, whose c_in and c_noise the student keeps (absent: EDM's). */
  precond?: Precond;
  /** Classes of a class-conditional teacher: each sample's class is drawn uniformly and given to teacher and student. */
  labelDim?: number;
}

/** What happens to steps whose loss or gradient is not finite (NaN or Inf). */
export const FAULT_POLICY = {
  /** Consecutive faulty steps that trigger a restore of the last good state at half the learning rate. */
  consecutiveBeforeRestore: 3,
  /** Restores after which training stops. */
  maxRestores: 3,
  /** Good steps between snapshots of the state a restore goes back to. */
  snapshotEvery: 50,
};

export class TrainingDiverged extends Error {}

/** The full training state as plain data, for checkpoints: tensors named 'student/', 'ema/', 'adam_m/', 'adam_v/' + param name. */
export interface TrainerState {
  step: number;
  optimizerStep: number;
  emaUpdates: number;
  rng: RngState;
  lrFactor: number;
  skippedSteps: number;
  restores: number;
  tensors: Map<string, HostTensor>;
}

interface Snapshot {
  step: number;
  optimizerStep: number;
  emaUpdates: number;
  tensors: Map<string, tf.Tensor>;
}

/**
 * Owns the optimiser, the EMA and the RNG of one distillation; `trainStep()` is the API the CLI and the worker
 * share. A step whose loss or gradient is not finite changes nothing (it is skipped and counted); repeated faults
 * restore the last good state at half the learning rate, and too many end in TrainingDiverged.
 */
export class PidTrainer {
  readonly settings: PidSettings;
  readonly grid: number[];
  rng: Rng;
  readonly optimizer: MomentOptimizer;
  readonly ema: WeightEma | null;
  private readonly variables: Map<string, tf.Variable>;
  private readonly target: (y: tf.Tensor, t: tf.Tensor1D, labels?: tf.Tensor2D) => tf.Tensor;
  step = 0;
  skippedSteps = 0;
  restores = 0;
  /** Multiplies the learning rate; halved by each restore. */
  lrFactor = 1;
  private consecutiveFaults = 0;
  private snapshot!: Snapshot;

  constructor(private readonly o: PidTrainerOptions) {
    this.settings = { ...o.settings };
    const { N, optimizer, lr, ema, seed } = this.settings;
    const { sigma_min, sigma_max, rho } = o.edm;
    this.grid = karrasSigmas(N, sigma_min, sigma_max, rho);
    this.rng = new Rng(seed);
    this.variables = new Map();
    const buffers = new Set(bufferNames(o.student.spec, o.student.dataShape));
    for (const [name, p] of o.student.params) {
      if (buffers.has(name)) continue;
      if (!(p instanceof tf.Variable)) throw new Error(`student parameter '${name}' is not trainable`);
      this.variables.set(name, p);
    }
    this.optimizer = new MomentOptimizer(optimizer, this.variables, { lr });
    this.ema = ema > 0 ? new WeightEma(ema, this.variables) : null;
    this.target = stopGradDenoiser(o.teacher);
    this.takeSnapshot(); // the state a restore goes back to before the first periodic snapshot
  }

  /** Sets the learning rate of the next steps (a schedule's value), times lrFactor. */
  setLearningRate(base: number): void {
    this.optimizer.lr = base * this.lrFactor;
  }

  /** Draws one batch of noise z ~ N(0, T^2 I), grid times (t, t') and, for a class-conditional teacher, one-hot labels. */
  drawBatch(): { z: tf.Tensor; t: tf.Tensor1D; tNext: tf.Tensor1D; labels?: tf.Tensor2D } {
    const { batch, N } = this.settings;
    const shape = this.o.student.dataShape;
    const size = shape.reduce((a, b) => a * b, 1);
    const z = tf.tensor(this.rng.normals(batch * size, this.o.edm.sigma_max), [batch, ...shape]);
    const [n, nNext] = drawGridPairs(this.rng, N, batch);
    const t = tf.tensor1d(Array.from(n, (i) => this.grid[i]));
    const tNext = tf.tensor1d(Array.from(nNext, (i) => this.grid[i]));
    const classes = this.o.labelDim ?? 0;
    if (classes === 0) return { z, t, tNext };
    return { z, t, tNext, labels: oneHotLabels(Array.from({ length: batch }, () => this.rng.int(classes)), classes) };
  }

  /** One optimisation step (or a skipped one, when the loss or the gradient is not finite). Returns plain numbers. */
  async trainStep(): Promise<StepMetrics> {
    const start = performance.now();
    const F = this.o.student.apply;
    const names = [...this.variables.keys()];
    const [value, norm, ...gradList] = tf.tidy(() => {
      const { z, t, tNext, labels } = this.drawBatch();
      const target = labels ? (y: tf.Tensor, tt: tf.Tensor1D) => this.target(y, tt, labels) : this.target;
      const { value, grads } = tf.variableGrads(
        () => pidLoss(networkWithLabels(F, labels), target, this.o.edm, this.settings.loss, z, t, tNext, this.o.precond),
        [...this.variables.values()],
      );
      // A weight the loss does not reach (EDM's map_augment: no augmentation labels in PID) gets a zero gradient.
      const list = names.map((name) => { const v = this.variables.get(name)!; return grads[v.name] ?? tf.zerosLike(v); });
      // pairwise adds, not tf.addN: tfjs-webgpu 4.22 puts all AddN inputs in one shader and drops the work past 7
      const norm = tf.sqrt(list.map((g) => tf.sum(tf.square(g))).reduce((acc, x) => tf.add(acc, x)));
      return [value, norm, ...list];
    });
    const grads = new Map(names.map((name, i) => [name, gradList[i]]));
    const [loss, gradNorm] = (await Promise.all([value.data(), norm.data()])).map((d) => d[0]);
    const finite = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (finite) {
      this.optimizer.apply(grads);
      this.ema?.update();
      this.step += 1;
      this.consecutiveFaults = 0;
      if (this.step % FAULT_POLICY.snapshotEvery === 0) this.takeSnapshot();
    }
    tf.dispose([value, norm, ...grads.values()]);
    if (!finite) this.onFault(loss, gradNorm);
    return { step: this.step, loss, gradNorm, stepMs: performance.now() - start, skipped: !finite };
  }

  private onFault(loss: number, gradNorm: number): void {
    this.skippedSteps += 1;
    this.consecutiveFaults += 1;
    if (this.consecutiveFaults < FAULT_POLICY.consecutiveBeforeRestore) return;
    if (this.restores >= FAULT_POLICY.maxRestores) {
      throw new TrainingDiverged(
        `training diverged: loss ${loss}, gradient norm ${gradNorm} at step ${this.step + 1} after ${this.restores} restores at ever lower learning rates; lower the learning rate or check the teacher`,
      );
    }
    this.restoreSnapshot();
    this.restores += 1;
    this.lrFactor /= 2;
    this.optimizer.lr /= 2;
    this.consecutiveFaults = 0;
  }

  private stateTensors(): Map<string, tf.Tensor> {
    return stateTensors(this.variables, this.optimizer, this.ema);
  }

  private takeSnapshot(): void {
    if (this.snapshot) tf.dispose([...this.snapshot.tensors.values()]);
    const tensors = new Map([...this.stateTensors()].map(([k, t]) => [k, tf.keep(tf.clone(t))]));
    this.snapshot = { step: this.step, optimizerStep: this.optimizer.step, emaUpdates: this.ema?.updates ?? 0, tensors };
  }

  /** Back to the last snapshot (the initial state before the first periodic one). */
  private restoreSnapshot(): void {
    assignState(this.stateTensors(), this.snapshot.tensors);
    this.step = this.snapshot.step;
    this.optimizer.step = this.snapshot.optimizerStep;
    if (this.ema) this.ema.updates = this.snapshot.emaUpdates;
  }

  /** The whole state as host data (for a checkpoint). */
  async saveState(): Promise<TrainerState> {
    const tensors = await toHost(this.stateTensors());
    return {
      step: this.step,
      optimizerStep: this.optimizer.step,
      emaUpdates: this.ema?.updates ?? 0,
      rng: this.rng.state(),
      lrFactor: this.lrFactor,
      skippedSteps: this.skippedSteps,
      restores: this.restores,
      tensors,
    };
  }

  /** Continues from a saved state: same weights, moments, EMA, RNG and counters. */
  loadState(state: TrainerState): void {
    assignState(this.stateTensors(), state.tensors);
    this.step = state.step;
    this.optimizer.step = state.optimizerStep;
    if (this.ema) this.ema.updates = state.emaUpdates;
    this.rng = new Rng(state.rng);
    this.lrFactor = state.lrFactor;
    this.skippedSteps = state.skippedSteps;
    this.restores = state.restores;
    this.takeSnapshot();
  }

  /** The weights a student file holds: the EMA when one is kept, else the raw weights. */
  exportParams(): Map<string, tf.Tensor> {
    if (!this.ema) return this.o.student.params;
    const averages = this.ema.averages;
    return new Map([...this.o.student.params].map(([name, p]) => [name, averages.get(name) ?? p])); // buffers as they are
  }

  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
    tf.dispose([...this.snapshot.tensors.values()]);
  }
}

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
import { type Precond, edmPreconditioning } from './precond';
import { pidStudentX } from './student';

export { pidOneStep, pidStudentX } from './student';
export { LOSS_NAMES, OPTIMIZER_NAMES, PID_DEFAULTS, type LossName, type OptimizerName, type PidSettings } from './pid-settings';
import { type Network, bufferNames } from './nets';
import { FACTOR_NAMES, IDENTITY_FACTORS, MomentOptimizer, type UpdateFactors, type UpdateTerms, WeightEma, termsOf } from './optim';
import type { LossName, PidSettings } from './pid-settings';
import type { HostTensor } from './nets/params';
import { Rng, type RngState } from './rng';
import { type FlatState, TrainState, disposeFlatState } from './train-state';

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
    // one student call over the 2B batch [(z, t); (z, t')]: half the launches of two calls, the same rows
    const both = pidStudentX(F, edm, tf.concat([z, z]), tf.concat([t, tNext]) as tf.Tensor1D, precond);
    const [y, yNext] = tf.split(both, 2);
    const tB = perSample(t, z.rank);
    const dydt = tf.div(tf.sub(y, yNext), perSample(tf.sub(t, tNext) as tf.Tensor1D, z.rank));
    const residual = tf.sub(tf.sub(y, tf.mul(tB, dydt)), teacherTarget(y, t));
    return tf.mean(lossPerSample(loss, residual));
  });
}

/** One batch as host data: noise z [B, ...dataShape] flat, the grid times t and t' [B], one-hot labels or none. */
export interface HostBatch {
  z: Float32Array;
  dataShape: number[];
  t: number[];
  tNext: number[];
  labels?: tf.Tensor2D;
}

/**
 * The same PID loss as pidLoss with the teacher under stop-gradient, its gradient written out, for the trainer. With
 * x = a z + (1 - a) f over the 2B batch (a = t / T, f the student network's output), r the residual and d the
 * per-sample distance, the loss L = mean_b d(r_b) has
 *   dL/df_b = (1 - a_b) (1 - t_b / (t_b - t'_b)) dL/dr_b,   dL/df'_b = (1 - a'_b) (t_b / (t_b - t'_b)) dL/dr_b,
 *   dL/dr = 2 r / (B D) (l2), sign(r) / (B D) (l1), r / (B sqrt(|r|^2 + c^2)) (pseudo-huber),
 * so the taped graph is the student's network alone. What depends only on the batch (c_in(T) z, a z, 1 - a, the
 * coefficients above) is computed on the host in float64 and uploaded, before the tape: call this and the returned
 * function inside one tf.tidy, the function inside tf.variableGrads.
 */
export function pidLossOfStudent(
  F: NetworkFn,
  teacher: (y: tf.Tensor, t: tf.Tensor1D) => tf.Tensor,
  edm: EdmSchedule,
  loss: LossName,
  batch: HostBatch,
  precond: Precond = edmPreconditioning(edm.sigma_data),
): () => tf.Scalar {
  const b = batch.t.length;
  const dim = batch.z.length / b;
  const T = edm.sigma_max;
  const cIn = precond.at(T).cIn;
  const times = [...batch.t, ...batch.tNext];
  const xIn = new Float32Array(2 * b * dim);
  const az = new Float32Array(2 * b * dim);
  for (let j = 0; j < 2 * b; j++) {
    const a = times[j] / T;
    const row = (j % b) * dim;
    for (let i = 0; i < dim; i++) {
      xIn[j * dim + i] = batch.z[row + i] * cIn;
      az[j * dim + i] = a * batch.z[row + i];
    }
  }
  const ratio = batch.t.map((ti, j) => ti / (ti - batch.tNext[j])); // t / (t - t')
  const coef = times.map((tj, j) => (1 - tj / T) * (j < b ? 1 - ratio[j] : ratio[j - b]));
  const perRow = (v: number[]) => tf.tensor(v, [v.length, ...batch.dataShape.map(() => 1)]);
  const shape2 = [2 * b, ...batch.dataShape];
  const [xInT, azT, oneMinusA, tB, gap, coefT] = [
    tf.tensor(xIn, shape2), tf.tensor(az, shape2), perRow(times.map((tj) => 1 - tj / T)),
    perRow(batch.t), perRow(batch.t.map((ti, j) => ti - batch.tNext[j])), perRow(coef),
  ];
  const tTeacher = tf.tensor1d(batch.t);
  const cNoise = precond.cNoise(tf.tensor1d(times));
  const c = 0.00054 * Math.sqrt(dim);
  const op = tf.customGrad(((f: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, yNext] = tf.split(tf.add(azT, tf.mul(oneMinusA, f)), 2);
    const r = tf.sub(tf.sub(y, tf.mul(tB, tf.div(tf.sub(y, yNext), gap))), teacher(y, tTeacher));
    let value: tf.Tensor;
    let dr: tf.Tensor;
    if (loss === 'l2') {
      value = tf.mean(tf.square(r)); // the mean over the batch of the per-sample means
      dr = tf.mul(r, 2 / (b * dim));
    } else if (loss === 'l1') {
      value = tf.mean(tf.abs(r));
      dr = tf.mul(tf.sign(r), 1 / (b * dim));
    } else {
      const flat = tf.reshape(r, [b, dim]);
      const norm = tf.sqrt(tf.add(tf.sum(tf.square(flat), 1, true), c * c)); // [B, 1]
      value = tf.mean(tf.sub(norm, c));
      dr = tf.reshape(tf.div(flat, tf.mul(norm, b)), r.shape);
    }
    save([dr]);
    return { value, gradFunc: (dy: tf.Tensor, [drs]: tf.Tensor[]) => tf.mul(tf.mul(tf.concat([drs, drs]), coefT), dy) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return () => op(F(xInT, cNoise)) as tf.Scalar;
}

/** Rows [start, end) of a host batch (labels sliced too): one micro-batch. */
export function sliceHostBatch(batch: HostBatch, start: number, end: number): HostBatch {
  const dim = batch.z.length / batch.t.length;
  return {
    z: batch.z.subarray(start * dim, end * dim), dataShape: batch.dataShape, t: batch.t.slice(start, end), tNext: batch.tNext.slice(start, end),
    ...(batch.labels ? { labels: tf.slice(batch.labels, [start, 0], [end - start, -1]) } : {}),
  };
}

/** Micro-batch bounds [start, end) covering `batch` rows in pieces of at most `micro` (the last one may be smaller). */
export function microBatchBounds(batch: number, micro = batch): [number, number][] {
  const size = Math.max(1, Math.min(micro, batch));
  const out: [number, number][] = [];
  for (let start = 0; start < batch; start += size) out.push([start, Math.min(batch, start + size)]);
  return out;
}

/** where(condition, a, b) with operands of one shape: the Select kernel alone (tf.where adds a broadcast copy of each). */
const select = (condition: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.engine().runKernel('Select', { condition, t: a, e: b }) as tf.Tensor;

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
  state: FlatState;
}

/** One row of a chunk's factor table: the optimiser's UpdateFactors, then the EMA's rate r and 1 - r. */
const ROW = FACTOR_NAMES.length + 2;
const factorRow = (f: UpdateFactors, emaRate: number): number[] => [...FACTOR_NAMES.map((k) => f[k]), emaRate, 1 - emaRate];

/**
 * Owns the optimiser, the EMA and the RNG of one distillation; `trainStep()` and `trainSteps()` are the API the CLI
 * and the worker share. A step whose loss or gradient is not finite changes nothing (it is skipped and counted);
 * repeated faults restore the last good state at half the learning rate, and too many end in TrainingDiverged.
 */
export class PidTrainer {
  readonly settings: PidSettings;
  readonly grid: number[];
  rng: Rng;
  readonly optimizer: MomentOptimizer;
  readonly ema: WeightEma | null;
  private readonly variables: Map<string, tf.Variable>;
  private readonly state: TrainState;
  /** Steps taken (good steps: skipped ones do not count; a restore sets it back to the snapshot's). */
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
    this.state = new TrainState(this.variables, this.optimizer, this.ema);
    this.takeSnapshot(); // the state a restore goes back to before the first periodic snapshot
  }

  /** Sets the learning rate of the next steps (a schedule's value), times lrFactor. */
  setLearningRate(base: number): void {
    this.optimizer.lr = base * this.lrFactor;
  }

  /** Draws one batch of noise z ~ N(0, T^2 I), grid times (t, t') and, for a class-conditional teacher, one-hot labels. */
  drawBatch(): { z: tf.Tensor; t: tf.Tensor1D; tNext: tf.Tensor1D; labels?: tf.Tensor2D } {
    const h = this.drawHostBatch();
    const z = tf.tensor(h.z, [h.t.length, ...h.dataShape]);
    return { z, t: tf.tensor1d(h.t), tNext: tf.tensor1d(h.tNext), ...(h.labels ? { labels: h.labels } : {}) };
  }

  /** The same draws as host data (the labels already a tensor). */
  private drawHostBatch(): HostBatch {
    const { batch, N } = this.settings;
    const shape = this.o.student.dataShape;
    const size = shape.reduce((a, b) => a * b, 1);
    const z = this.rng.normals(batch * size, this.o.edm.sigma_max);
    const [n, nNext] = drawGridPairs(this.rng, N, batch);
    const t = Array.from(n, (i) => this.grid[i]);
    const tNext = Array.from(nNext, (i) => this.grid[i]);
    const classes = this.o.labelDim ?? 0;
    if (classes === 0) return { z, dataShape: shape, t, tNext };
    return { z, dataShape: shape, t, tNext, labels: oneHotLabels(Array.from({ length: batch }, () => this.rng.int(classes)), classes) };
  }

  /** One optimisation step (or a skipped one, when the loss or the gradient is not finite). Returns plain numbers. */
  async trainStep(): Promise<StepMetrics> {
    return (await this.trainSteps(1))[0];
  }

  /**
   * `count` optimisation steps encoded back to back, with one readback of their losses and gradient norms per chunk
   * (a chunk ends at the next periodic snapshot, so at most FAULT_POLICY.snapshotEvery steps), so the device runs
   * step k while the CPU encodes step k + 1. The result is the same as `count` calls of trainStep(), fault policy
   * included: the finiteness guard runs on the device (a faulty step leaves weights, moments, EMA and counters as
   * they were), and once the faults in a row reach the restore count, the device leaves the rest of the chunk
   * alone; the host then restores the snapshot at half the lr, rewinds the RNG to after the faulty step's draws, and
   * runs the steps still owed.
   *
   * `lrAt(step)` gives the base learning rate (times lrFactor) of the step about to be taken, 1-based: a step that is
   * skipped is tried again under the same number. Without it, every step uses optimizer.lr; with it, optimizer.lr
   * is left at the lr of the last step tried.
   *
   * One StepMetrics per step, in order. Its `step` is this.step after that step: the number of the step when it was
   * taken, the previous number (unchanged) when it was skipped, and the snapshot's number when it triggered a
   * restore; `stepMs` is the chunk's wall time divided by its steps.
   */
  async trainSteps(count: number, lrAt?: (step: number) => number): Promise<StepMetrics[]> {
    if (!Number.isInteger(count) || count < 1) throw new Error(`trainSteps needs a whole number of steps, at least 1 (got ${count})`);
    const out: StepMetrics[] = [];
    while (out.length < count) {
      const toSnapshot = FAULT_POLICY.snapshotEvery - (this.step % FAULT_POLICY.snapshotEvery);
      out.push(...(await this.runChunk(Math.min(count - out.length, toSnapshot), lrAt)));
    }
    return out;
  }

  /**
   * Up to k steps with one readback; fewer when a restore ends the chunk early. Row i of the factor table holds
   * the factors of the chunk's (i + 1)-th good step, row k those of a step that changes nothing; the device counts
   * the good steps (applied) and the faults in a row, and picks the row.
   */
  private async runChunk(k: number, lrAt?: (step: number) => number): Promise<StepMetrics[]> {
    const start = performance.now();
    const lrs: number[] = [];
    const rows: number[] = [];
    const factors: UpdateFactors[] = [];
    for (let i = 0; i < k; i++) {
      lrs.push(lrAt ? lrAt(this.step + i + 1) * this.lrFactor : this.optimizer.lr);
      factors.push(this.optimizer.updateFactors(this.optimizer.step + i + 1, lrs[i]));
      rows.push(...factorRow(factors[i], this.ema?.rateAfter(this.ema.updates + i) ?? 0));
    }
    rows.push(...factorRow(IDENTITY_FACTORS, 1));
    const terms = termsOf(factors);
    const table = tf.tensor2d(rows, [k + 1, ROW]);
    let applied = tf.scalar(0, 'int32');
    let faults = tf.scalar(this.consecutiveFaults, 'int32');
    const records: tf.Tensor[] = [];
    const rngStates: RngState[] = [];
    let data: Float32Array;
    try {
      for (let i = 0; i < k; i++) {
        const [record, nextApplied, nextFaults] = this.encodeStep(table, k, terms, applied, faults);
        rngStates.push(this.rng.state());
        tf.dispose([applied, faults]);
        [applied, faults] = [nextApplied, nextFaults];
        records.push(record);
      }
      const all = tf.stack(records);
      data = (await all.data()) as Float32Array;
      all.dispose();
    } finally {
      tf.dispose([table, applied, faults, ...records]);
    }
    const stepMs = (performance.now() - start) / k;
    const out: StepMetrics[] = [];
    let good = 0;
    for (let j = 0; j < k; j++) {
      const [loss, gradNorm] = [data[2 * j], data[2 * j + 1]];
      if (lrAt) this.optimizer.lr = lrs[good];
      if (Number.isFinite(loss) && Number.isFinite(gradNorm)) {
        good += 1;
        this.step += 1;
        this.optimizer.step += 1;
        if (this.ema) this.ema.updates += 1;
        this.consecutiveFaults = 0;
        out.push({ step: this.step, loss, gradNorm, stepMs, skipped: false });
        continue;
      }
      const restored = this.onFault(loss, gradNorm);
      out.push({ step: this.step, loss, gradNorm, stepMs, skipped: true });
      if (restored) {
        this.rng = new Rng(rngStates[j]); // as if the chunk had ended at the faulty step
        this.ema?.refreshViews();
        return out;
      }
    }
    if (good > 0 && this.step % FAULT_POLICY.snapshotEvery === 0) this.takeSnapshot();
    this.ema?.refreshViews();
    return out;
  }

  /**
   * Encodes one step: loss and gradient, the flat gradient norm, the guard (finite loss and norm, and fewer faults
   * in a row than a restore takes), the update with the chosen factor row. Returns kept tensors: [loss, norm], and
   * the next counts of good steps and of faults in a row.
   */
  private encodeStep(table: tf.Tensor2D, k: number, terms: UpdateTerms, applied: tf.Scalar, faults: tf.Scalar): [tf.Tensor, tf.Scalar, tf.Scalar] {
    const layout = this.optimizer.layout;
    const variables = [...this.variables.values()];
    return tf.tidy(() => {
      const [value, g] = this.lossAndGradient(this.drawHostBatch(), variables);
      const squared = tf.square(g);
      const norm = tf.sqrt(tf.sum(squared));
      const live = tf.less(faults, FAULT_POLICY.consecutiveBeforeRestore);
      const apply = tf.logicalAnd(tf.logicalAnd(tf.isFinite(value), tf.isFinite(norm)), live);
      const row = tf.unstack(tf.gather(table, select(apply, applied, tf.scalar(k, 'int32'))));
      const f = Object.fromEntries(FACTOR_NAMES.map((name, i) => [name, row[i]])) as Record<keyof UpdateFactors, tf.Scalar>;
      // Under the identity row the update is exact only for finite inputs: entries whose square overflows become 0.
      const finite = tf.isFinite(squared);
      const zeros = tf.zerosLike(g);
      const next = this.optimizer.updateFlat(layout.concat(variables), select(finite, g, zeros) as tf.Tensor1D, select(finite, squared, zeros) as tf.Tensor1D, f, terms);
      this.optimizer.assignParams(next);
      this.ema?.updateFlat(next, row[ROW - 2], row[ROW - 1]);
      const nextApplied = tf.add(applied, tf.cast(apply, 'int32')) as tf.Scalar;
      const nextFaults = select(apply, tf.scalar(0, 'int32'), tf.add(faults, tf.cast(live, 'int32'))) as tf.Scalar;
      return [tf.stack([value, norm]), nextApplied, nextFaults];
    });
  }

  /**
   * The batch's loss and its flat gradient. With a micro-batch smaller than the batch, each micro-batch's loss (a mean
   * over its rows) and gradient are weighted by its share of the rows and summed: the whole batch's mean and gradient,
   * with only one micro-batch's activations alive at a time.
   */
  private lossAndGradient(batch: HostBatch, variables: tf.Variable[]): [tf.Scalar, tf.Tensor1D] {
    const F = this.o.student.apply;
    const layout = this.optimizer.layout;
    const rows = batch.t.length;
    const part = (b: HostBatch): [tf.Scalar, tf.Tensor1D] => {
      const labels = b.labels;
      const teacher = (y: tf.Tensor, tt: tf.Tensor1D) => this.o.teacher.denoise(y, tt, labels); // untaped: inside the loss kernel
      const lossOf = pidLossOfStudent(networkWithLabels(F, labels), teacher, this.o.edm, this.settings.loss, b, this.o.precond);
      const { value, grads } = tf.variableGrads(lossOf, variables);
      // A weight the loss does not reach (EDM's map_augment: no augmentation labels in PID) gets a zero gradient.
      return [value, layout.concat(variables.map((v) => grads[v.name] ?? tf.zerosLike(v)))];
    };
    const bounds = microBatchBounds(rows, this.settings.microBatch);
    if (bounds.length === 1) return part(batch);
    let sum: [tf.Scalar, tf.Tensor1D] | null = null;
    for (const [start, end] of bounds) {
      const next: [tf.Scalar, tf.Tensor1D] = tf.tidy(() => {
        const share = (end - start) / rows;
        const [value, g] = part(sliceHostBatch(batch, start, end));
        const weighted: [tf.Scalar, tf.Tensor1D] = [tf.mul(value, share), tf.mul(g, share)];
        return sum ? [tf.add(sum[0], weighted[0]), tf.add(sum[1], weighted[1])] : weighted;
      });
      if (sum) tf.dispose(sum);
      sum = next;
    }
    return sum!;
  }

  /** Counts a faulty step; true when it triggered a restore. */
  private onFault(loss: number, gradNorm: number): boolean {
    this.skippedSteps += 1;
    this.consecutiveFaults += 1;
    if (this.consecutiveFaults < FAULT_POLICY.consecutiveBeforeRestore) return false;
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
    return true;
  }

  private takeSnapshot(): void {
    if (this.snapshot) disposeFlatState(this.snapshot.state);
    this.snapshot = { step: this.step, optimizerStep: this.optimizer.step, emaUpdates: this.ema?.updates ?? 0, state: this.state.snapshot() };
  }

  /** Back to the last snapshot (the initial state before the first periodic one). */
  private restoreSnapshot(): void {
    this.state.assignFlat(this.snapshot.state);
    this.step = this.snapshot.step;
    this.optimizer.step = this.snapshot.optimizerStep;
    if (this.ema) this.ema.updates = this.snapshot.emaUpdates;
  }

  /** The whole state as host data (for a checkpoint). */
  async saveState(): Promise<TrainerState> {
    const tensors = await this.state.toHost();
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
    this.state.load(state.tensors);
    this.step = state.step;
    this.optimizer.step = state.optimizerStep;
    if (this.ema) this.ema.updates = state.emaUpdates;
    this.rng = new Rng(state.rng);
    this.lrFactor = state.lrFactor;
    this.skippedSteps = state.skippedSteps;
    this.restores = state.restores;
    this.consecutiveFaults = 0;
    this.ema?.refreshViews();
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
    disposeFlatState(this.snapshot.state);
  }
}

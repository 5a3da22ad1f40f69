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
import { type Denoiser, type EdmSchedule, type NetworkFn, karrasSigmas, perSample } from './edm';
import { pidStudentX } from './student';

export { pidOneStep, pidStudentX } from './student';
import type { Network } from './nets';
import { MomentOptimizer, type OptimizerName, WeightEma } from './optim';
import { Rng, type RngState } from './rng';

export type LossName = 'l2' | 'l1' | 'pseudo-huber';
export const LOSS_NAMES: LossName[] = ['l2', 'l1', 'pseudo-huber'];

export interface PidSettings {
  /** Points of the Karras grid the residual is taken on (N). */
  N: number;
  loss: LossName;
  optimizer: OptimizerName;
  lr: number;
  batch: number;
  /** EMA rate of the student weights; 0 keeps no average. */
  ema: number;
  seed: number;
}

/**
 * Learning rate at `step` (1-based) of `steps`: exponential decay from lr to lrFinal (an extension: the paper keeps
 * lr constant, which lrFinal = lr reproduces). Small 2D students on a CPU need a fast start and a fine finish.
 */
export function exponentialLr(step: number, steps: number, lr: number, lrFinal = lr): number {
  return steps <= 1 ? lr : lr * (lrFinal / lr) ** ((step - 1) / (steps - 1));
}

/** The paper's reference settings (pid-method.md §3), with a batch that suits a CPU. */
export const PID_DEFAULTS: PidSettings = { N: 250, loss: 'l2', optimizer: 'radam', lr: 2e-4, batch: 64, ema: 0.999, seed: 0 };

export interface StepMetrics {
  step: number;
  loss: number;
  gradNorm: number;
  stepMs: number;
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
export function stopGradDenoiser(teacher: Denoiser): (y: tf.Tensor, t: tf.Tensor1D) => tf.Tensor {
  const op = tf.customGrad(((y: tf.Tensor, t: tf.Tensor1D) => ({
    value: teacher.denoise(y, t),
    gradFunc: () => [tf.zerosLike(y), tf.zerosLike(t)],
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (y, t) => op(y, t) as tf.Tensor;
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
): tf.Scalar {
  return tf.tidy(() => {
    const y = pidStudentX(F, edm, z, t);
    const yNext = pidStudentX(F, edm, z, tNext);
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
  rngState?: RngState;
}

/** Owns the optimiser, the EMA and the RNG of one distillation; `step()` is the API the CLI and the worker share. */
export class PidTrainer {
  readonly settings: PidSettings;
  readonly grid: number[];
  readonly rng: Rng;
  readonly optimizer: MomentOptimizer;
  readonly ema: WeightEma | null;
  private readonly variables: Map<string, tf.Variable>;
  private readonly target: (y: tf.Tensor, t: tf.Tensor1D) => tf.Tensor;
  step = 0;

  constructor(private readonly o: PidTrainerOptions) {
    this.settings = { ...o.settings };
    const { N, optimizer, lr, ema, seed } = this.settings;
    const { sigma_min, sigma_max, rho } = o.edm;
    this.grid = karrasSigmas(N, sigma_min, sigma_max, rho);
    this.rng = new Rng(o.rngState ?? seed);
    this.variables = new Map();
    for (const [name, p] of o.student.params) {
      if (!(p instanceof tf.Variable)) throw new Error(`student parameter '${name}' is not trainable`);
      this.variables.set(name, p);
    }
    this.optimizer = new MomentOptimizer(optimizer, this.variables, { lr });
    this.ema = ema > 0 ? new WeightEma(ema, this.variables) : null;
    this.target = stopGradDenoiser(o.teacher);
  }

  /** Draws one batch of noise z ~ N(0, T^2 I) and grid times (t, t'). */
  drawBatch(): { z: tf.Tensor; t: tf.Tensor1D; tNext: tf.Tensor1D } {
    const { batch, N } = this.settings;
    const shape = this.o.student.dataShape;
    const size = shape.reduce((a, b) => a * b, 1);
    const z = tf.tensor(this.rng.normals(batch * size, this.o.edm.sigma_max), [batch, ...shape]);
    const [n, nNext] = drawGridPairs(this.rng, N, batch);
    const t = tf.tensor1d(Array.from(n, (i) => this.grid[i]));
    const tNext = tf.tensor1d(Array.from(nNext, (i) => this.grid[i]));
    return { z, t, tNext };
  }

  /** One optimisation step. Returns plain numbers. */
  async trainStep(): Promise<StepMetrics> {
    const start = performance.now();
    const F = this.o.student.apply;
    const [lossT, normT] = tf.tidy(() => {
      const { z, t, tNext } = this.drawBatch();
      const varList = [...this.variables.values()];
      const { value, grads } = tf.variableGrads(
        () => pidLoss(F, this.target, this.o.edm, this.settings.loss, z, t, tNext),
        varList,
      );
      const byName = new Map<string, tf.Tensor>();
      for (const [name, v] of this.variables) byName.set(name, grads[v.name]);
      const norm = tf.sqrt(tf.addN([...byName.values()].map((g) => tf.sum(tf.square(g)))));
      this.optimizer.apply(byName);
      this.ema?.update();
      return [value, norm];
    });
    const [loss, gradNorm] = await Promise.all([lossT.data(), normT.data()]);
    tf.dispose([lossT, normT]);
    this.step += 1;
    return { step: this.step, loss: loss[0], gradNorm: gradNorm[0], stepMs: performance.now() - start };
  }

  /** The weights a student file holds: the EMA when one is kept, else the raw weights. */
  exportParams(): Map<string, tf.Tensor> {
    return this.ema ? this.ema.averages : this.variables;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

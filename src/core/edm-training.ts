/**
 * Teacher training with EDM's denoising score-matching loss (pid-method.md §1; Karras et al. 2022, Table 1):
 *   ln(sigma) ~ N(P_mean = -1.2, P_std = 1.2^2),  lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2,
 *   loss = lambda(sigma) ||D(y + sigma n, sigma) - y||^2  (mean over dimensions and batch).
 */
import * as tf from '@tensorflow/tfjs-core';
import './gradients';
import { edmDenoiser, perSample } from './edm';
import type { Network } from './nets';
import type { HostTensor } from './nets/params';
import { MomentOptimizer, WeightEma } from './optim';
import { Rng, type RngState } from './rng';
import { TrainState } from './train-state';

export const EDM_P_MEAN = -1.2;
export const EDM_P_STD = 1.2;

export function edmLoss(net: Network, sigmaData: number, y: tf.Tensor, noise: tf.Tensor, sigma: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const weight = tf.div(tf.add(tf.square(sigma), sigmaData ** 2), tf.square(tf.mul(sigma, sigmaData)));
    const denoised = edmDenoiser(net.apply, sigmaData).denoise(tf.add(y, tf.mul(noise, perSample(sigma, y.rank))), sigma);
    const perSampleError = tf.mean(tf.reshape(tf.square(tf.sub(denoised, y)), [y.shape[0], -1]), 1);
    return tf.mean(tf.mul(weight, perSampleError));
  });
}

export interface TeacherTrainingState {
  step: number;
  optimizerStep: number;
  emaUpdates: number;
  rng: RngState;
  tensors: Map<string, HostTensor>;
}

/** Adam on the EDM loss, with an optional EMA of the weights (what a teacher file holds). */
export class EdmTeacherTrainer {
  readonly optimizer: MomentOptimizer;
  readonly ema: WeightEma | null;
  private readonly variables: Map<string, tf.Variable>;
  step = 0;

  constructor(readonly net: Network, readonly sigmaData: number, lr: number, public rng: Rng, emaRate = 0) {
    this.variables = new Map([...net.params].map(([k, v]) => [k, v as tf.Variable]));
    this.optimizer = new MomentOptimizer('adam', this.variables, { lr });
    this.ema = emaRate > 0 ? new WeightEma(emaRate, this.variables) : null;
  }

  /** One Adam step on a batch y [B, ...dataShape] (host data); returns the loss. */
  async trainStep(batch: Float32Array): Promise<number> {
    const shape = this.net.dataShape;
    const size = shape.reduce((a, b) => a * b, 1);
    const b = batch.length / size;
    const value = tf.tidy(() => {
      const y = tf.tensor(batch, [b, ...shape]);
      const noise = tf.tensor(this.rng.normals(batch.length), [b, ...shape]);
      const sigma = tf.tensor1d(Array.from({ length: b }, () => Math.exp(EDM_P_MEAN + EDM_P_STD * this.rng.normal())));
      const { value, grads } = tf.variableGrads(() => edmLoss(this.net, this.sigmaData, y, noise, sigma), [...this.variables.values()]);
      this.optimizer.apply(new Map([...this.variables].map(([k, v]) => [k, grads[v.name]])));
      this.ema?.update();
      return value;
    });
    const loss = (await value.data())[0];
    value.dispose();
    this.step += 1;
    return loss;
  }

  /** The weights a teacher file holds: the EMA when one is kept. */
  exportParams(): Map<string, tf.Tensor> {
    return this.ema ? this.ema.averages : this.variables;
  }

  async saveState(): Promise<TeacherTrainingState> {
    return {
      step: this.step,
      optimizerStep: this.optimizer.step,
      emaUpdates: this.ema?.updates ?? 0,
      rng: this.rng.state(),
      tensors: await new TrainState(this.variables, this.optimizer, this.ema).toHost(),
    };
  }

  loadState(state: TeacherTrainingState): void {
    new TrainState(this.variables, this.optimizer, this.ema).load(state.tensors);
    this.step = state.step;
    this.optimizer.step = state.optimizerStep;
    if (this.ema) this.ema.updates = state.emaUpdates;
    this.rng = new Rng(state.rng);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

/**
 * Optimisers over a map of named variables, written out so the update is visible and testable:
 * Adam (Kingma & Ba 2015) and RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate"), both in
 * PyTorch's form (eps added to sqrt(v), no weight decay), and an exponential moving average of the weights.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { OptimizerName } from './pid-settings';

export type { OptimizerName };

export interface OptimizerSettings {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class MomentOptimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  lr: number;
  /** Number of updates applied so far (t in the papers). */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(readonly kind: OptimizerName, readonly variables: Map<string, tf.Variable>, s: OptimizerSettings) {
    this.lr = s.lr;
    this.beta1 = s.beta1 ?? 0.9;
    this.beta2 = s.beta2 ?? 0.999;
    this.eps = s.eps ?? 1e-8;
    for (const [name, p] of variables) {
      this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  /**
   * The scalar factors of this step: p -= lr * m_hat * (rectified ? r_t * sqrt(1 - b2^t) / (sqrt(v) + eps) : 1)
   * for RAdam; p -= lr * m_hat / (sqrt(v_hat) + eps) for Adam.
   */
  static radamRectifier(t: number, beta2: number): number | null {
    const rhoInf = 2 / (1 - beta2) - 1;
    const b2t = beta2 ** t;
    const rhoT = rhoInf - (2 * t * b2t) / (1 - b2t);
    if (rhoT <= 5) return null; // variance of the adaptive lr is intractable: plain momentum step
    return Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
  }

  /** Applies one update from gradients keyed like `variables`. */
  apply(grads: Map<string, tf.Tensor>): void {
    this.step += 1;
    const t = this.step;
    const { beta1: b1, beta2: b2, eps, lr } = this;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    const rect = this.kind === 'radam' ? MomentOptimizer.radamRectifier(t, b2) : 0;
    tf.tidy(() => {
      for (const [name, p] of this.variables) {
        const g = grads.get(name);
        if (!g) throw new Error(`no gradient for parameter '${name}'`);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(mNew);
        v.assign(vNew);
        const mHat = tf.div(mNew, bc1);
        let update: tf.Tensor;
        if (this.kind === 'adam') update = tf.div(mHat, tf.add(tf.sqrt(tf.div(vNew, bc2)), eps));
        else if (rect === null) update = mHat;
        else update = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vNew), eps)), rect! * Math.sqrt(bc2));
        p.assign(tf.sub(p, tf.mul(update, lr)));
      }
    });
  }

  /** Moments as [name, m, v] for checkpoints and tests. */
  moments(): [string, tf.Variable, tf.Variable][] {
    return [...this.variables.keys()].map((n) => [n, this.m.get(n)!, this.v.get(n)!]);
  }

  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}

/**
 * Exponential moving average of the weights. The rate warms up as min(rate, (1 + n) / (10 + n)) after n updates
 * (TensorFlow's ExponentialMovingAverage with num_updates), so a short run is not dominated by its initial weights.
 */
export class WeightEma {
  readonly averages = new Map<string, tf.Variable>();
  updates = 0;

  constructor(readonly rate: number, readonly variables: Map<string, tf.Variable>) {
    for (const [name, p] of variables) this.averages.set(name, tf.tidy(() => tf.variable(tf.clone(p), false)));
  }

  currentRate(): number {
    return Math.min(this.rate, (1 + this.updates) / (10 + this.updates));
  }

  update(): void {
    const r = this.currentRate();
    this.updates += 1;
    tf.tidy(() => {
      for (const [name, p] of this.variables) {
        const a = this.averages.get(name)!;
        a.assign(tf.add(tf.mul(a, r), tf.mul(p, 1 - r)));
      }
    });
  }

  dispose(): void {
    tf.dispose([...this.averages.values()]);
  }
}

/**
 * Optimisers over a map of named variables, written out so the update is visible and testable:
 * Adam (Kingma & Ba 2015) and RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate"), both in
 * PyTorch's form (eps added to sqrt(v), no weight decay), and an exponential moving average of the weights.
 *
 * The moments and the average live in flat float32 vectors (all parameters end to end, FlatLayout), so one update
 * of every parameter is a dozen kernel launches whatever the number of parameter tensors. The scalar factors of an
 * update are computed on the host in float64 (updateFactors) and passed in as tensors, so the caller can pick them
 * on the device (PidTrainer's device-side finiteness guard chooses IDENTITY_FACTORS for a faulty step).
 */
import * as tf from '@tensorflow/tfjs-core';

import { flatConcat, flatSplit } from './kernels/flat';
import type { OptimizerName } from './pid-settings';

export type { OptimizerName };

export interface OptimizerSettings {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Names, shapes and offsets of tensors laid end to end in one flat float32 vector. */
export class FlatLayout {
  readonly names: string[];
  readonly shapes: number[][];
  readonly sizes: number[];
  readonly offsets: number[];
  readonly size: number;

  constructor(tensors: Map<string, tf.Tensor>) {
    this.names = [...tensors.keys()];
    this.shapes = [...tensors.values()].map((t) => t.shape.slice());
    this.sizes = [...tensors.values()].map((t) => t.size);
    this.offsets = [];
    let offset = 0;
    for (const s of this.sizes) {
      this.offsets.push(offset);
      offset += s;
    }
    this.size = offset;
    if (this.size === 0) throw new Error('an optimiser needs at least one parameter with entries');
  }

  /** The tensors, in layout order, flattened and concatenated. */
  concat(tensors: tf.Tensor[]): tf.Tensor1D {
    return flatConcat(tensors);
  }

  /** The inverse of concat: one tensor per name, in layout order. */
  split(flat: tf.Tensor1D): tf.Tensor[] {
    return flatSplit(flat, this.shapes);
  }

  /** Host data of one name out of a flat host vector (a copy). */
  slice(flat: Float32Array, i: number): Float32Array {
    return flat.slice(this.offsets[i], this.offsets[i] + this.sizes[i]);
  }
}

/**
 * The scalars of one update, m' = b1 m + c1 g, v' = b2 v + c2 g^2, p' = p - (s1 m' / (s2 sqrt(v') + eps) + s3 m'):
 *   Adam:                 s1 = lr / (1 - b1^t), s2 = 1 / sqrt(1 - b2^t), s3 = 0
 *   RAdam, rectified:     s1 = lr r_t sqrt(1 - b2^t) / (1 - b1^t), s2 = 1, s3 = 0
 *   RAdam, rho_t <= 5:    s1 = 0, s3 = lr / (1 - b1^t)  (plain bias-corrected momentum)
 */
export interface UpdateFactors {
  b1: number; c1: number; b2: number; c2: number; s1: number; s2: number; s3: number;
}

/** The factors of an update that changes nothing (given a finite gradient, moments and parameters). */
export const IDENTITY_FACTORS: UpdateFactors = { b1: 1, c1: 0, b2: 1, c2: 0, s1: 0, s2: 1, s3: 0 };
export const FACTOR_NAMES = ['b1', 'c1', 'b2', 'c2', 's1', 's2', 's3'] as const;

/** Which terms of the update a set of factors needs: s1 m / (s2 sqrt(v) + eps) (s2 = 1: no product), s3 m. */
export interface UpdateTerms {
  adaptive: boolean;
  scaledRoot: boolean;
  momentum: boolean;
}

export function termsOf(factors: UpdateFactors[]): UpdateTerms {
  return {
    adaptive: factors.some((f) => f.s1 !== 0),
    scaledRoot: factors.some((f) => f.s1 !== 0 && f.s2 !== 1),
    momentum: factors.some((f) => f.s3 !== 0),
  };
}

/** The factors as scalar tensors (one upload). */
export function factorTensors(f: UpdateFactors): Record<keyof UpdateFactors, tf.Scalar> {
  return tf.tidy(() => {
    const values = tf.unstack(tf.tensor1d(FACTOR_NAMES.map((k) => f[k]))) as tf.Scalar[];
    return Object.fromEntries(FACTOR_NAMES.map((k, i) => [k, values[i]])) as Record<keyof UpdateFactors, tf.Scalar>;
  });
}

export class MomentOptimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  lr: number;
  /** Number of updates applied so far (t in the papers). */
  step = 0;
  readonly layout: FlatLayout;
  /** First and second moments of all parameters, flat in layout order. */
  readonly m: tf.Variable<tf.Rank.R1>;
  readonly v: tf.Variable<tf.Rank.R1>;

  constructor(readonly kind: OptimizerName, readonly variables: Map<string, tf.Variable>, s: OptimizerSettings) {
    this.lr = s.lr;
    this.beta1 = s.beta1 ?? 0.9;
    this.beta2 = s.beta2 ?? 0.999;
    this.eps = s.eps ?? 1e-8;
    this.layout = new FlatLayout(variables);
    // inside tidy: the zeros a variable is made from are freed (the variables are kept)
    this.m = tf.tidy(() => tf.variable(tf.zeros([this.layout.size]), false)) as tf.Variable<tf.Rank.R1>;
    this.v = tf.tidy(() => tf.variable(tf.zeros([this.layout.size]), false)) as tf.Variable<tf.Rank.R1>;
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

  /** The factors of update number t (1-based) at learning rate lr. */
  updateFactors(t: number, lr: number): UpdateFactors {
    const { beta1: b1, beta2: b2 } = this;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    const base = { b1, c1: 1 - b1, b2, c2: 1 - b2 };
    if (this.kind === 'adam') return { ...base, s1: lr / bc1, s2: 1 / Math.sqrt(bc2), s3: 0 };
    const rect = MomentOptimizer.radamRectifier(t, b2);
    if (rect === null) return { ...base, s1: 0, s2: 1, s3: lr / bc1 };
    return { ...base, s1: (lr * rect * Math.sqrt(bc2)) / bc1, s2: 1, s3: 0 };
  }

  /**
   * One flat update: assigns the moments and returns the new flat parameters. g and gSquared are the flat gradient
   * and its square (both finite); the factors come from updateFactors or IDENTITY_FACTORS. `terms` (termsOf) says
   * which terms any of the possible factor sets needs: a term whose factor is 0 (or 1) in all of them is left out.
   */
  updateFlat(params: tf.Tensor1D, g: tf.Tensor1D, gSquared: tf.Tensor1D, f: Record<keyof UpdateFactors, tf.Tensor>, terms: UpdateTerms): tf.Tensor1D {
    return tf.tidy(() => {
      const m = tf.add(tf.mul(this.m, f.b1), tf.mul(g, f.c1)) as tf.Tensor1D;
      const v = tf.add(tf.mul(this.v, f.b2), tf.mul(gSquared, f.c2)) as tf.Tensor1D;
      this.m.assign(m);
      this.v.assign(v);
      const parts: tf.Tensor[] = [];
      if (terms.adaptive) {
        const root = terms.scaledRoot ? tf.mul(tf.sqrt(v), f.s2) : tf.sqrt(v);
        parts.push(tf.mul(tf.div(m, tf.add(root, this.eps)), f.s1));
      }
      if (terms.momentum) parts.push(tf.mul(m, f.s3));
      if (parts.length === 0) return tf.clone(params);
      return tf.sub(params, parts.length === 1 ? parts[0] : tf.add(parts[0], parts[1])) as tf.Tensor1D;
    });
  }

  /** Applies one update from gradients keyed like `variables` (no finiteness guard). */
  apply(grads: Map<string, tf.Tensor>): void {
    this.step += 1;
    const f = this.updateFactors(this.step, this.lr);
    tf.tidy(() => {
      const g = this.layout.concat(this.layout.names.map((name) => {
        const t = grads.get(name);
        if (!t) throw new Error(`no gradient for parameter '${name}'`);
        return t;
      }));
      const params = this.layout.concat([...this.variables.values()]);
      const next = this.updateFlat(params, g, tf.square(g), factorTensors(f), termsOf([f]));
      this.assignParams(next);
    });
  }

  /** Assigns flat parameters (layout order) to the variables. */
  assignParams(flat: tf.Tensor1D): void {
    tf.tidy(() => {
      const parts = this.layout.split(flat);
      [...this.variables.values()].forEach((p, i) => p.assign(parts[i]));
    });
  }

  dispose(): void {
    tf.dispose([this.m, this.v]);
  }
}

/**
 * Exponential moving average of the weights. The rate warms up as min(rate, (1 + n) / (10 + n)) after n updates
 * (TensorFlow's ExponentialMovingAverage with num_updates), so a short run is not dominated by its initial weights.
 * The average is kept flat (layout of the variables); `averages` gives it per name, as variables that are brought up
 * to date when read.
 */
export class WeightEma {
  updates = 0;
  readonly layout: FlatLayout;
  readonly flat: tf.Variable<tf.Rank.R1>;
  private views: Map<string, tf.Variable> | null = null;
  private stale = true;

  constructor(readonly rate: number, readonly variables: Map<string, tf.Variable>) {
    this.layout = new FlatLayout(variables);
    this.flat = tf.tidy(() => tf.variable(this.layout.concat([...variables.values()]), false)) as tf.Variable<tf.Rank.R1>;
  }

  /** The rate of the next update. */
  currentRate(): number {
    return this.rateAfter(this.updates);
  }

  /** The rate of the update that follows n updates. */
  rateAfter(n: number): number {
    return Math.min(this.rate, (1 + n) / (10 + n));
  }

  /** a' = r a + c p for flat parameters p (r = rate, c = 1 - rate; r = 1, c = 0 keeps the average). */
  updateFlat(params: tf.Tensor1D, r: tf.Tensor, c: tf.Tensor): void {
    tf.tidy(() => this.flat.assign(tf.add(tf.mul(this.flat, r), tf.mul(params, c)) as tf.Tensor1D));
    this.stale = true;
  }

  /** Averages the current values of the variables in. */
  update(): void {
    const r = this.currentRate();
    this.updates += 1;
    tf.tidy(() => this.updateFlat(this.layout.concat([...this.variables.values()]), tf.scalar(r), tf.scalar(1 - r)));
    this.refreshViews();
  }

  /** Replaces the flat average (a restore or a checkpoint). */
  assignFlat(flat: tf.Tensor1D): void {
    this.flat.assign(flat);
    this.stale = true;
  }

  /**
   * The average per parameter name: variables owned by this EMA, disposed with it. Current when read; a map held
   * from an earlier read is brought up to date by refreshViews (the PID trainer calls it after each chunk of steps,
   * update() after each update), as the per-tensor averages of before were.
   */
  get averages(): Map<string, tf.Variable> {
    if (!this.views) {
      const parts = this.layout.split(this.flat);
      this.views = new Map(this.layout.names.map((name, i) => [name, tf.variable(parts[i], false)]));
      tf.dispose(parts);
      this.stale = false;
    }
    this.refreshViews();
    return this.views;
  }

  /** Brings the per-name averages up to date, once someone has read them (one split, nothing before that). */
  refreshViews(): void {
    if (!this.views || !this.stale) return;
    const parts = this.layout.split(this.flat);
    [...this.views.values()].forEach((view, i) => view.assign(parts[i]));
    tf.dispose(parts);
    this.stale = false;
  }

  dispose(): void {
    tf.dispose([this.flat, ...(this.views?.values() ?? [])]);
  }
}

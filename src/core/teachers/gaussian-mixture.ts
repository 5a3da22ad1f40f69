/**
 * The analytic teacher: a mixture of K isotropic Gaussians N(mu_k, s_k^2 I) with weights w_k. Noised by sigma it
 * stays a mixture, N(mu_k, (s_k^2 + sigma^2) I), so the ideal denoiser is exact (formats.md):
 *   D(x, t) = sum_k r_k(x, t) (mu_k + s_k^2 / (s_k^2 + t^2) (x - mu_k)),
 *   r_k ∝ w_k N(x; mu_k, (s_k^2 + t^2) I).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Denoiser } from '../edm';
import type { Rng } from '../rng';

export interface MixtureSpec {
  weights: number[];
  means: number[][];
  stds: number[];
}

export class GaussianMixtureDenoiser implements Denoiser {
  private readonly logWeights: tf.Tensor1D;
  private readonly means: tf.Tensor2D; // [K, D]
  private readonly variances: tf.Tensor1D; // [K]

  constructor(readonly spec: MixtureSpec) {
    const total = spec.weights.reduce((a, b) => a + b, 0);
    this.logWeights = tf.keep(tf.tensor1d(spec.weights.map((w) => Math.log(w / total))));
    this.means = tf.keep(tf.tensor2d(spec.means));
    this.variances = tf.keep(tf.tensor1d(spec.stds.map((s) => s * s)));
  }

  get dim(): number {
    return this.spec.means[0].length;
  }

  denoise(x: tf.Tensor, sigma: tf.Tensor1D): tf.Tensor {
    return tf.tidy(() => {
      const batch = x.shape[0];
      const flat = tf.reshape(x, [batch, this.dim]) as tf.Tensor2D;
      const varT = tf.add(tf.expandDims(this.variances, 0), tf.expandDims(tf.square(sigma), 1)); // [B, K]
      const diff = tf.sub(tf.expandDims(flat, 1), tf.expandDims(this.means, 0)); // [B, K, D]
      const sqDist = tf.sum(tf.square(diff), 2); // [B, K]
      const logLik = tf.sub(
        tf.add(tf.expandDims(this.logWeights, 0), tf.mul(tf.log(varT), -this.dim / 2)),
        tf.div(sqDist, tf.mul(varT, 2)),
      );
      const r = tf.softmax(logLik, 1); // responsibilities [B, K]
      // sum_k r_k (t^2/(s_k^2+t^2) mu_k + s_k^2/(s_k^2+t^2) x)
      const shrink = tf.div(tf.expandDims(this.variances, 0), varT); // [B, K]
      const meanPart = tf.matMul(tf.mul(r, tf.sub(1, shrink)), this.means); // [B, D]
      const xPart = tf.mul(tf.sum(tf.mul(r, shrink), 1, true), flat); // [B, D]
      return tf.reshape(tf.add(meanPart, xPart), x.shape);
    });
  }

  dispose(): void {
    tf.dispose([this.logWeights, this.means, this.variances]);
  }
}

/** Draws n points from the mixture (plain numbers, row-major [n, D]). */
export function sampleMixture(spec: MixtureSpec, n: number, rng: Rng): Float32Array {
  const d = spec.means[0].length;
  const total = spec.weights.reduce((a, b) => a + b, 0);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let u = rng.uniform() * total;
    let k = 0;
    while (k < spec.weights.length - 1 && u >= spec.weights[k]) u -= spec.weights[k++];
    for (let j = 0; j < d; j++) out[i * d + j] = spec.means[k][j] + spec.stds[k] * rng.normal();
  }
  return out;
}

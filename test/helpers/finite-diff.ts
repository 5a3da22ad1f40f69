import * as tf from '@tensorflow/tfjs-core';

/** Central difference (f(v + eps e_i) - f(v - eps e_i)) / 2 eps of a scalar function of one entry of a variable. */
export function centralDifference(v: tf.Variable, i: number, eps: number, f: () => tf.Scalar): number {
  const base = v.dataSync().slice();
  const probe = (d: number) => {
    const p = base.slice();
    p[i] += d;
    tf.tidy(() => v.assign(tf.tensor(p, v.shape)));
    return tf.tidy(() => f().dataSync()[0]);
  };
  const fd = (probe(eps) - probe(-eps)) / (2 * eps);
  tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
  return fd;
}

/**
 * The PID student's parametrisation (pid-method.md §2): a neural solution x_theta(z, t) of the teacher's ODE with
 * the boundary condition x_theta(z, T) = z built in. Sampling only; training is in pid.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type EdmSchedule, type NetworkFn, perSample } from './edm';
import { type Precond, edmPreconditioning } from './precond';

/**
 * x_theta(z, t) = (t/T) z + (1 - t/T) F(c_in(T) z, c_noise(t)) (§2), with the teacher's preconditioning c_in and
 * c_noise, since F starts from the teacher's weights (EDM's: c_in(T) = 1 / sqrt(sd^2 + T^2), c_noise = ln(t) / 4).
 */
export function pidStudentX(F: NetworkFn, edm: EdmSchedule, z: tf.Tensor, t: tf.Tensor1D, precond: Precond = edmPreconditioning(edm.sigma_data)): tf.Tensor {
  return tf.tidy(() => {
    const T = edm.sigma_max;
    const a = perSample(tf.div(t, T) as tf.Tensor1D, z.rank);
    const f = F(tf.mul(z, precond.at(T).cIn), precond.cNoise(t));
    return tf.add(tf.mul(a, z), tf.mul(tf.sub(1, a), f));
  });
}

/** One-step generation: x_theta(z, sigma_min) with z ~ N(0, T^2 I). */
export function pidOneStep(F: NetworkFn, edm: EdmSchedule, z: tf.Tensor, precond?: Precond): tf.Tensor {
  return tf.tidy(() => pidStudentX(F, edm, z, tf.fill([z.shape[0]], edm.sigma_min) as tf.Tensor1D, precond));
}

/** x_theta(z, t_j) for every t_j in `times`, batched into one network call: [times, ...z.shape]. */
export function pidStudentAtTimes(F: NetworkFn, edm: EdmSchedule, z: tf.Tensor, times: number[], precond?: Precond): tf.Tensor {
  return tf.tidy(() => {
    const b = z.shape[0];
    const zs = tf.concat(times.map(() => z));
    const t = tf.tensor1d(times.flatMap((ti) => new Array<number>(b).fill(ti)));
    return tf.reshape(pidStudentX(F, edm, zs, t, precond), [times.length, ...z.shape]);
  });
}

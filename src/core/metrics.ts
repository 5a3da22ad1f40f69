/**
 * How far a student is from its teacher's ODE: the teacher's trajectory from fixed validation noise, solved once
 * with Heun on a fine Karras grid, against the student's x_theta(z, t) at the same times.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Denoiser, type EdmSchedule, type NetworkFn, karrasSigmas } from './edm';
import type { Precond } from './precond';
import { pidStudentAtTimes } from './student';

import { sampleHeun } from './samplers';

/**
 * Data elements (rows x data size) per student call in errorOf: 16384 rows of 2D points, 41 MNIST images. The
 * network's activations scale with it (channels x pixels), and all of them are alive during a call: 2048 28x28
 * images in one UNet call overran wasm's memory.
 */
const ELEMENTS_PER_CALL = 32768;

export interface TrajectoryError {
  /** Root-mean-square error per coordinate, over all reference times. */
  rmsePath: number;
  /** The same at t = sigma_min: the one-step sample's error. */
  rmseEnd: number;
  /** Relative error at sigma_min: ||x_student - x_teacher|| / ||x_teacher||. */
  relEnd: number;
}

export class TrajectoryReference {
  /** Reference times, descending from sigma_max to sigma_min. */
  readonly times: number[];
  /** Teacher states at `times`, each [B, ...dataShape]. */
  readonly states: tf.Tensor[];

  /** `steps` Karras points (Heun, 2 steps - 1 evaluations) from z ~ N(0, T^2 I) to sigma_min. */
  /** For a class-conditional teacher, give it (and later the student) with its labels bound (edm.ts withLabels). */
  constructor(teacher: Denoiser, readonly edm: EdmSchedule, readonly z: tf.Tensor, steps = 128, readonly precond?: Precond) {
    this.times = karrasSigmas(steps, edm.sigma_min, edm.sigma_max, edm.rho);
    this.states = [tf.keep(tf.clone(z))];
    const { x } = sampleHeun(teacher, z, this.times, ({ x: xi }) => {
      this.states.push(tf.keep(tf.clone(xi)));
    });
    x.dispose();
  }

  /** The teacher's solution at sigma_min (the reference for one-step samples). */
  get end(): tf.Tensor {
    return this.states[this.states.length - 1];
  }

  /**
   * Compares a student network F_theta (PID parametrisation) at every reference time, batching the times into few
   * network calls (at most ELEMENTS_PER_CALL data elements each, each call in its own tidy): on a GPU each op is a
   * dispatch, so one call per time is slow for small data.
   */
  async errorOf(studentF: NetworkFn): Promise<TrajectoryError> {
    const perCall = Math.max(1, Math.floor(ELEMENTS_PER_CALL / this.z.size));
    const perTime: tf.Tensor[] = [];
    for (let i = 0; i < this.times.length; i += perCall) {
      const times = this.times.slice(i, i + perCall);
      perTime.push(tf.tidy(() => {
        const x = pidStudentAtTimes(studentF, this.edm, this.z, times, this.precond);
        const diff = tf.sub(x, tf.stack(this.states.slice(i, i + perCall)));
        return tf.mean(tf.reshape(tf.square(diff), [times.length, -1]), 1);
      }));
    }
    const [pathSq, endSq, endRef] = tf.tidy(() => {
      const all = tf.concat(perTime);
      return [tf.mean(all), tf.slice(all, [this.times.length - 1], [1]), tf.mean(tf.square(this.end))];
    });
    tf.dispose(perTime);
    const [p, e, r] = await Promise.all([pathSq.data(), endSq.data(), endRef.data()]);
    tf.dispose([pathSq, endSq, endRef]);
    return { rmsePath: Math.sqrt(p[0]), rmseEnd: Math.sqrt(e[0]), relEnd: Math.sqrt(e[0] / r[0]) };
  }

  dispose(): void {
    tf.dispose(this.states);
  }
}

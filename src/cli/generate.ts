/** Samples from a model file for the CLI: a teacher solves its ODE, a student takes one step; in chunks. */
import * as tf from '@tensorflow/tfjs-core';
import { withLabels } from '../core/edm';
import { loadStudent, loadTeacher } from '../core/models';
import { type SolverName, edmSamplingSigmas, solve } from '../core/samplers';
import type { ModelFile } from '../formats/model-file';

const CHUNK = 8192;

export interface Generated {
  x: Float32Array;
  nfe: number;
  describe: string;
}

/**
 * Samples from standard-normal noise z ([n, ...data.shape], row-major), scaled by sigma_max here; labels [n, label_dim]
 * (row-major, one-hot) for a class-conditional model.
 */
export async function generate(model: ModelFile, z: Float32Array, n: number, solver: SolverName, steps: number, labels?: Float32Array): Promise<Generated> {
  const { config } = model;
  const shape = config.data.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const T = config.edm.sigma_max;
  const clip = shape.length === 3; // images are clipped to data.range (pid-method.md §1); points are not
  const result = new Float32Array(n * size);
  const isTeacher = config.role === 'teacher';
  const teacher = isTeacher ? loadTeacher(model) : null;
  const student = isTeacher ? null : loadStudent(model);
  const sigmas = edmSamplingSigmas(steps, config.edm.sigma_min, T, config.edm.rho);
  let nfe = 1;
  for (let i = 0; i < n; i += CHUNK) {
    const rows = Math.min(CHUNK, n - i);
    const z0 = tf.tidy(() => tf.mul(tf.tensor(z.subarray(i * size, (i + rows) * size), [rows, ...shape]), T));
    const dim = config.data.label_dim ?? 0;
    const l = labels && dim > 0 ? tf.tensor2d(labels.subarray(i * dim, (i + rows) * dim), [rows, dim]) : undefined;
    let x: tf.Tensor;
    if (teacher) {
      const solved = solve(solver, withLabels(teacher.denoiser, l), z0, sigmas);
      x = solved.x;
      nfe = solved.nfe;
    } else {
      x = student!.sample(z0, l);
    }
    const out = clip ? tf.tidy(() => tf.clipByValue(x, config.data.range[0], config.data.range[1])) : x;
    result.set((await out.data()) as Float32Array, i * size);
    tf.dispose([x, out, z0, ...(l ? [l] : [])]);
  }
  teacher?.dispose();
  student?.dispose();
  const describe = teacher ? `teacher ${solver} on ${steps} Karras points + 0 (${nfe} NFE)` : 'student, one step (1 NFE)';
  return { x: result, nfe, describe };
}

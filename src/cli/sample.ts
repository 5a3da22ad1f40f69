/** `pid-studio sample`: a teacher solves its ODE (Heun or Euler), a student takes one step, from the same noise. */
import * as tf from '@tensorflow/tfjs-core';
import { loadStudent, loadTeacher } from '../core/models';
import { Rng } from '../core/rng';
import { type SolverName, edmSamplingSigmas, solve } from '../core/samplers';
import { UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { readModelArg, readNoise, writeTensorFile } from './io';

const CHUNK = 8192;

export async function sample(argv: string[], out: (line: string) => void): Promise<number> {
  const o = parseOptions(argv, { model: 'string', n: 'integer', seed: 'integer', noise: 'string', out: 'string', solver: 'string', steps: 'integer', backend: 'string' }, 'sample');
  if (typeof o.model !== 'string') throw new UsageError('sample: --model <model> is required');
  if (typeof o.out !== 'string') throw new UsageError('sample: --out <samples.safetensors> is required');
  if ((o.noise === undefined) === (o.n === undefined)) throw new UsageError('sample: give either --n K (with --seed S) or --noise <noise file>');
  const solver = (o.solver ?? 'heun') as SolverName;
  if (solver !== 'heun' && solver !== 'euler') throw new UsageError(`sample: --solver must be heun or euler (got '${solver}')`);
  const steps = (o.steps as number | undefined) ?? 18;
  if (steps < 2) throw new UsageError('sample: --steps must be at least 2');
  if (o.n !== undefined && (o.n as number) < 1) throw new UsageError('sample: --n must be at least 1');

  const model = await readModelArg(o.model);
  const { config } = model;
  const shape = config.data.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const noise = typeof o.noise === 'string' ? readNoise(o.noise, shape) : { n: o.n as number, z: new Rng((o.seed as number) ?? 0).normals((o.n as number) * size) };
  const backend = await startCliBackend(o.backend);

  const start = performance.now();
  const T = config.edm.sigma_max;
  const result = new Float32Array(noise.n * size);
  const clip = shape.length === 3; // images are clipped to data.range (pid-method.md §1); points are not
  let describe: string;
  if (config.role === 'teacher') {
    const teacher = loadTeacher(model);
    const sigmas = edmSamplingSigmas(steps, config.edm.sigma_min, T, config.edm.rho);
    let nfe = 0;
    for (let i = 0; i < noise.n; i += CHUNK) {
      const rows = Math.min(CHUNK, noise.n - i);
      const z = tf.tidy(() => tf.mul(tf.tensor(noise.z.subarray(i * size, (i + rows) * size), [rows, ...shape]), T));
      const { x, nfe: used } = solve(solver, teacher.denoiser, z, sigmas);
      result.set(await finish(x, clip, config.data.range), i * size);
      tf.dispose([x, z]);
      nfe = used;
    }
    teacher.dispose();
    describe = `teacher ${solver} on ${steps} Karras points + 0 (${nfe} NFE)`;
  } else {
    const student = loadStudent(model);
    for (let i = 0; i < noise.n; i += CHUNK) {
      const rows = Math.min(CHUNK, noise.n - i);
      const x = tf.tidy(() => student.sample(tf.mul(tf.tensor(noise.z.subarray(i * size, (i + rows) * size), [rows, ...shape]), T)));
      result.set(await finish(x, clip, config.data.range), i * size);
      x.dispose();
    }
    student.dispose();
    describe = 'student, one step (1 NFE)';
  }
  writeTensorFile(o.out, 'x', [noise.n, ...shape], result);
  out(`wrote ${o.out}: ${noise.n} samples of [${shape.join(', ')}], ${describe}, ${((performance.now() - start) / 1000).toFixed(2)} s on ${backend}`);
  return 0;
}

async function finish(x: tf.Tensor, clip: boolean, range: [number, number]): Promise<Float32Array> {
  if (!clip) return (await x.data()) as Float32Array;
  const clipped = tf.clipByValue(x, range[0], range[1]);
  const data = (await clipped.data()) as Float32Array;
  clipped.dispose();
  return data;
}

/**
 * The measurement a plan (plan.ts) is made from: real PID steps of the teacher's distillation (the student's forward
 * and backward over the pair (z, t), (z, t'), the teacher's denoiser on y, the optimiser's update and the EMA) on the
 * backend that will train, at one sample and at two. Their difference is the cost of a sample, in seconds and in
 * peak live tensor bytes; the rest (the state, the update) is fixed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PRESETS, RUN_DEFAULTS } from '../formats/run-settings';
import { networkWithLabels } from './edm';
import { oneHotLabels } from './labels';
import { type Teacher, dataSize } from './models';
import { type LearnedNetworkSpec, bufferNames, parameterCount } from './nets';
import { frozenFilterBytes } from './nets/webgpu-layers';
import { drawGridPairs, pidLossOfStudent } from './pid';
import { type MemoryLimit, type StepCost, estimatedCost, stateFloorBytes } from './plan';
import { Rng } from './rng';
import { PidRun } from './run';

/** Steps timed at each size after a warm-up: the fastest counts (a busy machine only slows a step down). */
const TIMED_STEPS = 2;
/** Small networks are timed over several steps of at least this many milliseconds in all. */
const MIN_TIMING_MS = 300;

export interface ProbeOptions {
  /** Past this memory a real step is not tried: the cost is estimated from the teacher's size and one forward pass. */
  limit?: MemoryLimit;
  /** The student's network (absent: the teacher's, started from its weights, as a run does). */
  network?: LearnedNetworkSpec;
  /** Tells what is being measured, for a progress line. */
  progress?: (what: string) => void;
}

/**
 * The loss and gradient of one batch of m samples (no update), as a step computes them: what its peak of
 * activations is measured on. The update's own peak comes from the whole step.
 */
async function lossAndGradientPass(run: PidRun, m: number): Promise<void> {
  const { teacher, student } = run;
  const { edm } = teacher.config;
  const shape = teacher.config.data.shape;
  const grid = run.trainer.grid;
  const rng = new Rng(7);
  const [n, nNext] = drawGridPairs(rng, grid.length, m);
  const labels = teacher.labelDim > 0 ? oneHotLabels(Array.from({ length: m }, (_, i) => i % teacher.labelDim), teacher.labelDim) : undefined;
  const batch = { z: rng.normals(m * dataSize(shape), edm.sigma_max), dataShape: shape, t: Array.from(n, (i) => grid[i]), tNext: Array.from(nNext, (i) => grid[i]), labels };
  const buffers = new Set(bufferNames(student.spec, student.dataShape));
  const variables = [...student.params].filter(([name]) => !buffers.has(name)).map(([, p]) => p as tf.Variable);
  const loss = tf.tidy(() => {
    const denoise = (y: tf.Tensor, t: tf.Tensor1D) => teacher.denoiser.denoise(y, t, labels);
    const lossOf = pidLossOfStudent(networkWithLabels(student.apply, labels), denoise, edm, 'l2', batch, teacher.precond);
    return tf.variableGrads(lossOf, variables).value;
  });
  await loss.data();
  tf.dispose(labels ? [loss, labels] : [loss]);
}

interface Measured {
  seconds: number;
  /** The run's live bytes between steps, beyond what was live before it (the teacher). */
  state: number;
  /** Peak bytes above the state during the loss and gradient of the batch, and during the whole step. */
  pass: number;
  step: number;
  parameters: number;
}

/** One timed forward pass of the teacher's denoiser on one sample (after a warm-up), in seconds. */
async function forwardSeconds(teacher: Teacher): Promise<number> {
  const { edm, data } = teacher.config;
  const x = tf.tensor(new Rng(7).normals(dataSize(data.shape), edm.sigma_max), [1, ...data.shape]);
  const labels = teacher.labelDim > 0 ? oneHotLabels([0], teacher.labelDim) : undefined;
  const t = tf.tensor1d([edm.sigma_max]);
  let best = Infinity;
  try {
    for (let i = 0; i < 2; i++) {
      const start = performance.now();
      const y = teacher.denoiser.denoise(x, t, labels);
      await y.data();
      y.dispose();
      if (i > 0) best = (performance.now() - start) / 1000;
    }
  } finally {
    tf.dispose([x, t, ...(labels ? [labels] : [])]);
  }
  return best;
}

/**
 * Measures a PID step of `teacher`'s distillation at one and two samples on the current tfjs backend; a teacher
 * whose run state alone exceeds `limit` is not stepped (that would end the backend): its cost is estimated.
 */
export async function measureStepCost(teacher: Teacher, o: ProbeOptions = {}): Promise<StepCost> {
  const teacherParameters = teacher.network?.parameterCount ?? 0;
  const studentParameters = o.network ? parameterCount(o.network, teacher.config.data.shape) : teacherParameters;
  const keptBytes = teacher.network ? frozenFilterBytes(teacher.network.params) : 0; // webgpu: the teacher's HWIO filters
  if (o.limit && stateFloorBytes(studentParameters, teacherParameters) + keptBytes > o.limit.bytes) {
    o.progress?.('timing one forward pass of the teacher (a training step would not fit in memory)');
    const cost = estimatedCost(tf.getBackend(), studentParameters, teacherParameters, await forwardSeconds(teacher));
    return { ...cost, bytesState: cost.bytesState + keptBytes };
  }
  const measure = async (m: number): Promise<Measured> => {
    o.progress?.(`timing a PID step of ${m} sample${m === 1 ? '' : 's'}`);
    const before = tf.memory().numBytes;
    const run = new PidRun(teacher, { ...RUN_DEFAULTS, ...PRESETS.quick.values, batch: m, steps: 100, evalEvery: 100 }, o.network ? { network: o.network } : {});
    try {
      const state = tf.memory().numBytes - before;
      // the first passes compile kernels and allocate: they are measured for memory, not timed
      const peakOf = async (f: () => Promise<unknown>) => (await tf.profile(async () => { await f(); return []; })).peakBytes - before - state;
      const pass = await peakOf(() => lossAndGradientPass(run, m));
      const step = await peakOf(() => run.trainer.trainSteps(1));
      let best = Infinity;
      let spent = 0;
      for (let i = 0; i < TIMED_STEPS || spent < MIN_TIMING_MS; i++) {
        const start = performance.now();
        await run.trainer.trainSteps(1);
        const ms = performance.now() - start;
        best = Math.min(best, ms);
        spent += ms;
      }
      return { seconds: best / 1000, state, pass: Math.max(0, pass), step: Math.max(0, step), parameters: run.student.parameterCount };
    } finally {
      run.dispose();
    }
  };
  const one = await measure(1);
  const two = await measure(2);
  const secondsPerSample = Math.max(two.seconds - one.seconds, one.seconds / 10);
  const bytesPerSample = Math.max(two.pass - one.pass, 0);
  return {
    backend: tf.getBackend(),
    studentParameters: one.parameters,
    teacherParameters,
    secondsFixed: Math.max(0, one.seconds - secondsPerSample),
    secondsPerSample,
    bytesState: 4 * teacherParameters + keptBytes + one.state,
    bytesUpdate: one.step,
    bytesPassFixed: Math.max(0, one.pass - bytesPerSample),
    bytesPerSample,
  };
}

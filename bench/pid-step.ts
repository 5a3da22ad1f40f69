/**
 * One PID training configuration measured: tfjs kernels per step (on webgpu also GPU dispatches per step) and
 * steps/s, step by step (trainStep, one readback each) and in chunks (trainSteps, one readback per chunk). Works against a PidTrainer without trainSteps (an older
 * commit, for before/after figures): the chunked figures are then absent.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PidTrainer, StepMetrics } from '../src/core/pid';
import { countDispatches, countKernels, topKernels } from './kernel-count';

type Chunked = (count: number) => Promise<StepMetrics[]>;

export interface StepFigures {
  /** Kernels of one trainStep(), after a warm-up step. */
  kernelsPerStep: number;
  /** Kernels of one trainSteps(chunk) divided by chunk; null without trainSteps. */
  kernelsPerChunkedStep: number | null;
  /** GPU compute dispatches of that trainStep() (webgpu only: wraps dispatchWorkgroups); null on other backends. */
  dispatchesPerStep: number | null;
  /** Buffer copies of that trainStep() (webgpu only: copyBufferToBuffer); null on other backends. */
  copiesPerStep: number | null;
  stepsPerSecond: number;
  chunkedStepsPerSecond: number | null;
  top: string;
}

function chunkedOf(trainer: PidTrainer): Chunked | null {
  const f = (trainer as unknown as { trainSteps?: Chunked }).trainSteps;
  return typeof f === 'function' ? f.bind(trainer) : null;
}

/** Times `steps` steps of each kind after a warm-up; throws when a measured step was skipped (a broken setup). */
export async function measurePidSteps(trainer: PidTrainer, steps: number, chunk: number): Promise<StepFigures> {
  const check = (m: StepMetrics[]) => {
    const bad = m.find((s) => s.skipped);
    if (bad) throw new Error(`bench: a measured PID step was skipped (loss ${bad.loss}, gradient norm ${bad.gradNorm})`);
  };
  check([await trainer.trainStep()]);
  const single = await countKernels(() => countDispatches(() => trainer.trainStep()));
  check([single.result.result]);
  const dispatchesPerStep = tf.getBackend() === 'webgpu' ? single.result.dispatches : null;
  const copiesPerStep = tf.getBackend() === 'webgpu' ? single.result.copies : null;
  const start = performance.now();
  for (let i = 0; i < steps; i++) check([await trainer.trainStep()]);
  const stepsPerSecond = steps / ((performance.now() - start) / 1000);

  const chunked = chunkedOf(trainer);
  let kernelsPerChunkedStep: number | null = null;
  let chunkedStepsPerSecond: number | null = null;
  if (chunked) {
    const counted = await countKernels(() => chunked(chunk));
    check(counted.result);
    kernelsPerChunkedStep = counted.total / chunk;
    const chunks = Math.max(1, Math.round(steps / chunk));
    const t0 = performance.now();
    for (let i = 0; i < chunks; i++) check(await chunked(chunk));
    chunkedStepsPerSecond = (chunks * chunk) / ((performance.now() - t0) / 1000);
  }
  return { kernelsPerStep: single.total, kernelsPerChunkedStep, dispatchesPerStep, copiesPerStep, stepsPerSecond, chunkedStepsPerSecond, top: topKernels(single.byName) };
}

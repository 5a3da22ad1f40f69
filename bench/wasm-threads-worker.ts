/**
 * The worker side of bench/wasm-threads.mjs: starts the wasm backend the way the studio's worker does (threads when
 * this context is cross-origin isolated), then times PID training steps of a student initialised from each teacher.
 */
/// <reference lib="webworker" />
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../src/core/backend';
import { createStudentNetwork, loadTeacher } from '../src/core/models';
import { PID_DEFAULTS, PidTrainer } from '../src/core/pid';
import { Rng } from '../src/core/rng';
import { readModelFile } from '../src/formats/model-file';

declare const self: DedicatedWorkerGlobalScope;

export interface BenchCase { label: string; url: string; batch: number; warmup: number; steps: number }
export interface BenchRequest { wasmPaths: Record<string, string>; wasmThreads?: number; cases: BenchCase[] }

async function stepsPerSecond(c: BenchCase): Promise<number> {
  const bytes = new Uint8Array(await (await fetch(c.url)).arrayBuffer());
  const teacher = loadTeacher(await readModelFile([{ name: c.url.split('/').pop()!, bytes }]));
  const { network } = createStudentNetwork(teacher, undefined, new Rng(1));
  const trainer = new PidTrainer({ teacher: teacher.denoiser, student: network, edm: teacher.config.edm, settings: { ...PID_DEFAULTS, batch: c.batch } });
  try {
    for (let i = 0; i < c.warmup; i++) await trainer.trainStep();
    const start = performance.now();
    for (let i = 0; i < c.steps; i++) await trainer.trainStep();
    return c.steps / ((performance.now() - start) / 1000);
  } finally {
    trainer.dispose();
    network.dispose();
    teacher.dispose();
  }
}

self.onmessage = async (e: MessageEvent<BenchRequest>) => {
  try {
    tf.enableProdMode();
    const report = await startBackend('wasm', { wasmPaths: e.data.wasmPaths, wasmThreads: e.data.wasmThreads });
    const results: { label: string; stepsPerSecond: number }[] = [];
    for (const c of e.data.cases) results.push({ label: c.label, stepsPerSecond: await stepsPerSecond(c) });
    self.postMessage({ ok: true, report, isolated: self.crossOriginIsolated, cores: self.navigator.hardwareConcurrency, results, tensors: tf.memory().numTensors });
  } catch (err) {
    self.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
};

/**
 * `node bin/run-ts.mjs bench/dispatches.ts [mnist28|songunet28] [batch] [--sites Kernel,Kernel] [--time steps]`:
 * where a PID step's GPU compute dispatches go on webgpu (Dawn in Node; lavapipe on a CPU machine). One trainStep()
 * after a warm-up step, each dispatch attributed to the tfjs kernel that recorded it (the innermost one running),
 * printed per kernel with the kernel's count; --sites also prints where in src/ the named kernels were called from
 * (outside a gradient, the op's line; inside, the tape's); --time times that many steps after the count. The bench
 * (bench.ts) gives the totals; this is for finding the next dispatches to cut (#22).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../src/core/backend';
import { createStudentNetwork, loadTeacher } from '../src/core/models';
import { readAnyModel } from '../src/core/model-import';
import { PID_DEFAULTS, PidTrainer } from '../src/core/pid';
import { Rng } from '../src/core/rng';
import { installNodeWebGpu } from '../src/core/webgpu-node';
import { readModelFile } from '../src/formats/model-file';
import { writeSongUnet28 } from './songunet28';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
const sites = new Set((option('--sites') ?? '').split(',').filter(Boolean));
const timedSteps = Number(option('--time') ?? 0);
const [which = 'mnist28', batchArg = '2'] = args;
if (which !== 'mnist28' && which !== 'songunet28') throw new Error(`bench/dispatches.ts: unknown network '${which}' (mnist28 or songunet28)`);

await installNodeWebGpu();
await startBackend('webgpu');
let model;
if (which === 'mnist28') {
  const file = 'public/teachers/mnist28-unet.safetensors';
  model = await readModelFile([{ name: file, bytes: new Uint8Array(readFileSync(file)) }]);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'pid-dispatches-'));
  writeSongUnet28(join(dir, 'songunet28.pt'));
  model = await readAnyModel([{ name: 'songunet28.pt', bytes: new Uint8Array(readFileSync(join(dir, 'songunet28.pt'))) }]);
  rmSync(dir, { recursive: true, force: true });
}
const teacher = loadTeacher(model);
const { network } = createStudentNetwork(teacher, undefined, new Rng(1));
const trainer = new PidTrainer({ teacher: teacher.denoiser, student: network, edm: teacher.config.edm, settings: { ...PID_DEFAULTS, batch: Number(batchArg) } });
await trainer.trainStep();

type RunKernelFunc = (params: { kernelName?: string }) => unknown;
const engine = tf.engine() as unknown as { runKernelFunc: RunKernelFunc };
const runKernelFunc = engine.runKernelFunc;
const pass = (globalThis as unknown as { GPUComputePassEncoder: { prototype: { dispatchWorkgroups: (...a: number[]) => void } } }).GPUComputePassEncoder.prototype;
const dispatch = pass.dispatchWorkgroups;
const running: string[] = [];
const kernels = new Map<string, number>();
const dispatches = new Map<string, number>();
const callSites = new Map<string, number>();
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
Error.stackTraceLimit = 60;
const OUR_SOURCES = `${process.cwd()}/src/`; // tfjs's stack frames name its own src/ too
engine.runKernelFunc = function (this: unknown, params) {
  const name = params.kernelName;
  if (name && sites.has(name) && running.length === 0) {
    const frames = (new Error().stack ?? '').split('\n').filter((l) => l.includes(OUR_SOURCES));
    bump(callSites, `${name} at ${frames.slice(0, 2).map((l) => l.slice(l.indexOf(OUR_SOURCES) + OUR_SOURCES.length - 4).replace(/\)$/, '')).join(' < ')}`);
  }
  if (name) {
    bump(kernels, name);
    running.push(name);
  }
  try {
    return runKernelFunc.call(this, params);
  } finally {
    if (name) running.pop();
  }
};
let total = 0;
pass.dispatchWorkgroups = function (this: unknown, ...a: number[]) {
  total += 1;
  bump(dispatches, running[running.length - 1] ?? '(outside a kernel)');
  return dispatch.apply(this, a);
};
await trainer.trainStep();
engine.runKernelFunc = runKernelFunc;
pass.dispatchWorkgroups = dispatch;

console.log(`${which}, batch ${batchArg}: ${total} dispatches in one PID step`);
for (const [k, n] of [...dispatches].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(28)} ${String(n).padStart(5)} dispatches, ${kernels.get(k) ?? 0} kernels`);
for (const [k, n] of [...callSites].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(4)} x ${k}`);
if (timedSteps > 0) {
  const start = performance.now();
  for (let i = 0; i < timedSteps; i++) await trainer.trainStep();
  console.log(`${(timedSteps / ((performance.now() - start) / 1000)).toFixed(3)} steps/s over ${timedSteps} steps`);
}
trainer.dispose();
network.dispose();
teacher.dispose();

/**
 * `node bin/run-ts.mjs scripts/webgpu-gradcheck.ts`: the checks of test/cli/webgpu-node.test.ts without vitest,
 * for a machine with a real GPU (the .gpu kit). Prints the adapter, each check's measurements and PASS or FAIL;
 * exits 1 when a check fails.
 */
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../src/core/backend';
import { installNodeWebGpu } from '../src/core/webgpu-node';
import { PID_VS_CPU_TOLERANCE, UNET_FD, pidGradientVsCpu, tensorsOverPidSteps, unetGradientCheck } from './webgpu-checks';

tf.enableProdMode();
const { description } = await installNodeWebGpu();
await startBackend('webgpu');
console.log(`adapter: ${description}`);
let failed = 0;
const verdict = (ok: boolean) => (ok ? 'PASS' : (failed++, 'FAIL'));
const timed = async <T>(f: () => Promise<T>): Promise<[T, string]> => {
  const start = performance.now();
  const r = await f();
  return [r, `${((performance.now() - start) / 1000).toFixed(1)} s`];
};

const [probes, unetTime] = await timed(unetGradientCheck);
const worst = probes.reduce((a, b) => (b.error > a.error ? b : a));
console.log(`${verdict(worst.error < UNET_FD.tolerance)} unet finite differences: ${probes.length} probes, worst error ${worst.error.toExponential(2)} at ${worst.name}[${worst.index}] (autodiff ${worst.autodiff}, fd ${worst.finiteDifference}; tolerance ${UNET_FD.tolerance}), ${unetTime}`);

const [pid, pidTime] = await timed(pidGradientVsCpu);
const pidOk = pid.maxDifference < PID_VS_CPU_TOLERANCE * pid.largest && Math.abs(pid.lossGpu - pid.lossCpu) < 1e-4 * Math.abs(pid.lossCpu);
console.log(`${verdict(pidOk)} PID loss gradient vs cpu: loss ${pid.lossGpu} vs ${pid.lossCpu}, max difference ${pid.maxDifference.toExponential(2)} of largest ${pid.largest.toExponential(2)} (${pid.worst}), ${pidTime}`);

await startBackend('webgpu');
const [mem, memTime] = await timed(() => tensorsOverPidSteps(20));
const flat = mem.numTensors.every((n) => n === mem.numTensors[0]);
console.log(`${verdict(flat && mem.losses.every(Number.isFinite))} numTensors over 20 PID steps (unet 8x8, batch 4): ${mem.numTensors.join(' ')}; ${mem.msPerStep.toFixed(1)} ms/step, ${memTime}`);

console.log(failed ? `${failed} check(s) FAILED` : 'all webgpu checks passed');
process.exitCode = failed ? 1 : 0;

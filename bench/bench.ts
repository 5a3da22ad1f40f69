/**
 * `npm run bench`: speed, measured, printed as a table (never asserted in tests).
 *  - PID training steps/s for the built-in 2D MLP teacher (64x2 MLP student initialised from it), batch 256;
 *  - teacher sampling (EDM Heun, 18 points + 0 = 35 NFE) against student one-step sampling (1 NFE), 4096 points.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, startBackend } from '../src/core/backend';
import { createStudentNetwork, loadTeacher } from '../src/core/models';
import { type LearnedNetworkSpec, parameterCount } from '../src/core/nets';
import { PidTrainer, PID_DEFAULTS } from '../src/core/pid';
import { Rng } from '../src/core/rng';
import { edmSamplingSigmas, sampleHeun } from '../src/core/samplers';
import { pidOneStep } from '../src/core/student';
import { readModelFile } from '../src/formats/model-file';

const TEACHER = 'public/teachers/moons-mlp.safetensors';
const BACKENDS: BackendName[] = (process.argv[2]?.split(',') as BackendName[]) ?? ['wasm', 'cpu'];
const TRAIN_STEPS = { wasm: 60, cpu: 15, webgl: 30, webgpu: 30 } as const;
const POINTS = 4096;

tf.enableProdMode();
const model = await readModelFile([{ name: TEACHER, bytes: new Uint8Array(readFileSync(TEACHER)) }]);
const rows: string[][] = [];

async function timeIt(f: () => Promise<void>, repeats: number): Promise<number> {
  await f(); // warm-up
  const start = performance.now();
  for (let i = 0; i < repeats; i++) await f();
  return (performance.now() - start) / repeats;
}

for (const name of BACKENDS) {
  const backend = await startBackend(name);
  const teacher = loadTeacher(model);
  const { network } = createStudentNetwork(teacher, undefined, new Rng(1));
  const trainer = new PidTrainer({ teacher: teacher.denoiser, student: network, edm: teacher.config.edm, settings: { ...PID_DEFAULTS, batch: 256 } });
  await trainer.trainStep();
  const steps = TRAIN_STEPS[name];
  const start = performance.now();
  for (let i = 0; i < steps; i++) await trainer.trainStep();
  const stepsPerSecond = steps / ((performance.now() - start) / 1000);

  const z = tf.tensor(new Rng(2).normals(POINTS * 2, 80), [POINTS, 2]);
  const sigmas = edmSamplingSigmas(18, 0.002, 80, 7);
  const heunMs = await timeIt(async () => {
    const { x, nfe } = sampleHeun(teacher.denoiser, z, sigmas);
    if (nfe !== 35) throw new Error(`expected 35 NFE, got ${nfe}`);
    await x.data();
    x.dispose();
  }, 3);
  const oneStepMs = await timeIt(async () => {
    const x = pidOneStep(network.apply, teacher.config.edm, z);
    await x.data();
    x.dispose();
  }, 10);
  rows.push([backend.got, stepsPerSecond.toFixed(1), heunMs.toFixed(1), oneStepMs.toFixed(2), (heunMs / oneStepMs).toFixed(1)]);
  z.dispose();
  trainer.dispose();
  network.dispose();
  teacher.dispose();
}

const header = ['backend', 'PID steps/s (batch 256)', 'teacher Heun 35 NFE, 4096 pts (ms)', 'student 1 NFE, 4096 pts (ms)', 'speed-up'];
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; model: ${TEACHER} (${JSON.stringify(model.config.network)}, ${parameterCount(model.config.network as LearnedNetworkSpec, [2]).toLocaleString('en-US')} parameters)`);
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);

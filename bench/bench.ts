/**
 * `npm run bench [wasm,cpu,webgpu]`: speed, measured, printed as tables (never asserted in tests).
 *  - PID training steps/s for the built-in 2D MLP teacher (64x2 MLP student initialised from it), batch 256;
 *  - teacher sampling (EDM Heun, 18 points + 0 = 35 NFE) against student one-step sampling (1 NFE), 4096 points;
 *  - the same for the built-in 28x28 MNIST UNet teacher: PID steps/s at batch 32 and 128 (student initialised from
 *    the teacher), Heun 35 NFE against 1 NFE for 256 images. Not on cpu (a step takes about a minute there).
 * webgpu runs in Node through Dawn (src/cli/webgpu-node.ts); its adapter is named in the row.
 * BENCH_UNET_STEPS (steps per batch size; 0 skips the table), BENCH_UNET_BATCHES and BENCH_UNET_IMAGES override the UNet sizes.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, startBackend } from '../src/core/backend';
import { trainerCheckpoint } from '../src/core/checkpoint';
import { type Teacher, createStudentNetwork, loadTeacher } from '../src/core/models';
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
const IMAGE_TEACHER = 'public/teachers/mnist28-unet.safetensors';
const UNET_STEPS = { wasm: 3, cpu: 0, webgl: 3, webgpu: 20 } as const;
const UNET_BATCHES = (process.env.BENCH_UNET_BATCHES ?? '32,128').split(',').map(Number);
const UNET_IMAGES = Number(process.env.BENCH_UNET_IMAGES ?? 256);

tf.enableProdMode();
const readModel = (file: string) => readModelFile([{ name: file, bytes: new Uint8Array(readFileSync(file)) }]);
const model = await readModel(TEACHER);
const imageModel = await readModel(IMAGE_TEACHER);
const rows: string[][] = [];
const imageRows: string[][] = [];
let adapter = '';

async function timeIt(f: () => Promise<void>, repeats: number): Promise<number> {
  await f(); // warm-up
  const start = performance.now();
  for (let i = 0; i < repeats; i++) await f();
  return (performance.now() - start) / repeats;
}

/**
 * PID steps/s of a student initialised from the teacher, after one warm-up step; and what a checkpoint of that run
 * costs the training loop (the studio's and the CLI's: the state read back from the device and serialised).
 */
async function pidStepsPerSecond(teacher: Teacher, batch: number, steps: number): Promise<{ perSecond: number; checkpointMs: number; checkpointBytes: number }> {
  const { network } = createStudentNetwork(teacher, undefined, new Rng(1));
  const trainer = new PidTrainer({ teacher: teacher.denoiser, student: network, edm: teacher.config.edm, settings: { ...PID_DEFAULTS, batch } });
  await trainer.trainStep();
  const start = performance.now();
  for (let i = 0; i < steps; i++) await trainer.trainStep();
  const perSecond = steps / ((performance.now() - start) / 1000);
  const saveStart = performance.now();
  const bytes = await trainerCheckpoint(trainer, { teacher: { name: teacher.config.name, sha256: teacher.sha256 }, network: network.spec, steps, lrFinal: PID_DEFAULTS.lr });
  const checkpointMs = performance.now() - saveStart;
  trainer.dispose();
  network.dispose();
  return { perSecond, checkpointMs, checkpointBytes: bytes.byteLength };
}

/** The image teacher's row: steps/s at each batch, Heun 35 NFE (once, after a 1 NFE warm-up) and 1 NFE for UNET_IMAGES. */
async function imageTeacherRow(label: string, steps: number): Promise<string[]> {
  const teacher = loadTeacher(imageModel);
  const perSecond: string[] = [];
  let checkpoint = '';
  for (const batch of UNET_BATCHES) {
    const r = await pidStepsPerSecond(teacher, batch, steps);
    perSecond.push(r.perSecond.toFixed(2));
    checkpoint ||= `${r.checkpointMs.toFixed(0)} ms, ${(r.checkpointBytes / 1e6).toFixed(2)} MB`;
  }
  const { network } = createStudentNetwork(teacher, undefined, new Rng(1));
  const shape = teacher.config.data.shape;
  const z = tf.tensor(new Rng(2).normals(UNET_IMAGES * shape.reduce((a, b) => a * b, 1), 80), [UNET_IMAGES, ...shape]);
  const oneStepMs = await timeIt(async () => {
    const x = pidOneStep(network.apply, teacher.config.edm, z);
    await x.data();
    x.dispose();
  }, 3);
  const start = performance.now();
  const { x, nfe } = sampleHeun(teacher.denoiser, z, edmSamplingSigmas(18, 0.002, 80, 7));
  if (nfe !== 35) throw new Error(`expected 35 NFE, got ${nfe}`);
  await x.data();
  const heunMs = performance.now() - start;
  tf.dispose([x, z]);
  network.dispose();
  teacher.dispose();
  return [label, `${steps}`, ...perSecond, heunMs.toFixed(0), oneStepMs.toFixed(1), (heunMs / oneStepMs).toFixed(1), checkpoint];
}

for (const name of BACKENDS) {
  if (name === 'webgpu') adapter = (await (await import('../src/cli/webgpu-node')).installNodeWebGpu()).description;
  const backend = await startBackend(name);
  const label = name === 'webgpu' ? `${backend.got} (${adapter})` : backend.got;
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
  rows.push([label, stepsPerSecond.toFixed(1), heunMs.toFixed(1), oneStepMs.toFixed(2), (heunMs / oneStepMs).toFixed(1)]);
  z.dispose();
  trainer.dispose();
  network.dispose();
  teacher.dispose();

  const unetSteps = Number(process.env.BENCH_UNET_STEPS ?? UNET_STEPS[name]);
  if (name !== 'cpu' && unetSteps > 0) imageRows.push(await imageTeacherRow(label, unetSteps));
}

function printTable(header: string[], body: string[][]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of body) console.log(`| ${r.join(' | ')} |`);
}

const header = ['backend', 'PID steps/s (batch 256)', 'teacher Heun 35 NFE, 4096 pts (ms)', 'student 1 NFE, 4096 pts (ms)', 'speed-up'];
const gpu = adapter ? `; webgpu adapter: ${adapter}` : '';
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}${gpu}; model: ${TEACHER} (${JSON.stringify(model.config.network)}, ${parameterCount(model.config.network as LearnedNetworkSpec, [2]).toLocaleString('en-US')} parameters)`);
printTable(header, rows);

const imageNet = imageModel.config.network as LearnedNetworkSpec;
const skipped = BACKENDS.includes('cpu') ? '; cpu skipped (one UNet step takes about a minute there)' : '';
console.log(`\nimage teacher: ${IMAGE_TEACHER} (${imageNet.type} ${imageModel.config.data.shape.join('x')}, ${parameterCount(imageNet, imageModel.config.data.shape).toLocaleString('en-US')} parameters), student initialised from it${skipped}`);
if (imageRows.length) {
  const n = UNET_IMAGES;
  printTable(['backend', 'steps timed', ...UNET_BATCHES.map((b) => `PID steps/s (batch ${b})`), `teacher Heun 35 NFE, ${n} images (ms)`, `student 1 NFE, ${n} images (ms)`, 'speed-up', 'checkpoint (read back + serialised)'], imageRows);
}

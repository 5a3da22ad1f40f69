/**
 * `npm run bench [wasm,cpu,webgpu]`: speed, measured, printed as tables (never asserted in tests).
 *  - PID training step: tfjs kernels per step and steps/s, one trainStep at a time and in trainSteps chunks, for the
 *    built-in moons MLP teacher (64x2 MLP student initialised from it) at batch 256 and the built-in mnist28 UNet
 *    (student initialised from it) at batch 32 (not on cpu: a step takes about a minute there); and, when
 *    /usr/bin/python3 has torch, PyTorch's CPU step of the same MLP on one thread (bench/torch_pid_mlp.py);
 *  - sampling: teacher EDM Heun (18 points + 0 = 35 NFE) against student one step (1 NFE), 4096 points / 256 images,
 *    and what a checkpoint of a UNet run costs.
 * webgpu runs in Node through Dawn (src/cli/webgpu-node.ts); its adapter is named in the table.
 * Environment: BENCH_UNET_STEPS (steps timed per UNet batch; 0 skips the UNet), BENCH_UNET_BATCHES (32),
 * BENCH_CHUNK (steps per trainSteps call, 10), BENCH_SAMPLING=0 (skip the sampling tables), BENCH_TORCH=0 (skip PyTorch).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
import { type StepFigures, measurePidSteps } from './pid-step';

const TEACHER = 'public/teachers/moons-mlp.safetensors';
const IMAGE_TEACHER = 'public/teachers/mnist28-unet.safetensors';
const BACKENDS: BackendName[] = (process.argv[2]?.split(',') as BackendName[]) ?? ['wasm', 'cpu'];
const MLP_STEPS = { wasm: 100, cpu: 15, webgl: 30, webgpu: 30 } as const;
const UNET_STEPS = { wasm: 4, cpu: 0, webgl: 3, webgpu: 20 } as const;
const UNET_BATCHES = (process.env.BENCH_UNET_BATCHES ?? '32').split(',').map(Number);
const CHUNK = Number(process.env.BENCH_CHUNK ?? 10);
const SAMPLING = process.env.BENCH_SAMPLING !== '0';
const POINTS = 4096;
const UNET_IMAGES = Number(process.env.BENCH_UNET_IMAGES ?? 256);
const PYTHON = '/usr/bin/python3';

tf.enableProdMode();
const readModel = (file: string) => readModelFile([{ name: file, bytes: new Uint8Array(readFileSync(file)) }]);
const model = await readModel(TEACHER);
const imageModel = await readModel(IMAGE_TEACHER);
const stepRows: string[][] = [];
const notes: string[] = [];
const samplingRows: string[][] = [];
const imageRows: string[][] = [];
let adapter = '';

async function timeIt(f: () => Promise<void>, repeats: number): Promise<number> {
  await f(); // warm-up
  const start = performance.now();
  for (let i = 0; i < repeats; i++) await f();
  return (performance.now() - start) / repeats;
}

function trainerFor(teacher: Teacher, batch: number) {
  const { network } = createStudentNetwork(teacher, undefined, new Rng(1));
  const trainer = new PidTrainer({ teacher: teacher.denoiser, student: network, edm: teacher.config.edm, settings: { ...PID_DEFAULTS, batch } });
  return { network, trainer, done: () => (trainer.dispose(), network.dispose()) };
}

function stepRow(label: string, net: string, batch: number, f: StepFigures): string[] {
  const opt = (v: number | null, digits: number) => (v === null ? '-' : v.toFixed(digits));
  return [label, net, `${batch}`, `${f.kernelsPerStep}`, opt(f.kernelsPerChunkedStep, 0), f.stepsPerSecond.toFixed(2), opt(f.chunkedStepsPerSecond, 2)];
}

/** PyTorch's CPU step of the same MLP on one thread, or why there is none. */
function torchStep(batch: number, steps: number): { perSecond: number; version: string } | string {
  if (process.env.BENCH_TORCH === '0') return 'BENCH_TORCH=0';
  if (!existsSync(PYTHON)) return `no ${PYTHON}`;
  const r = spawnSync(PYTHON, ['bench/torch_pid_mlp.py', TEACHER, `${batch}`, `${steps}`], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return /No module named 'torch'/.test(r.stderr) ? `${PYTHON} has no torch` : `bench/torch_pid_mlp.py failed: ${r.stderr.trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { perSecond: out.stepsPerSecond, version: out.torch };
}

/** Teacher Heun (35 NFE) against student one step (1 NFE) on 4096 points of the moons MLP. */
async function mlpSamplingRow(label: string, teacher: Teacher): Promise<string[]> {
  const { network } = createStudentNetwork(teacher, undefined, new Rng(1));
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
  z.dispose();
  network.dispose();
  return [label, heunMs.toFixed(1), oneStepMs.toFixed(2), (heunMs / oneStepMs).toFixed(1)];
}

/** The image teacher: Heun 35 NFE (once, after a 1 NFE warm-up) and 1 NFE for UNET_IMAGES, and a checkpoint's cost. */
async function imageSamplingRow(label: string, teacher: Teacher): Promise<string[]> {
  const run = trainerFor(teacher, UNET_BATCHES[0]);
  await run.trainer.trainStep();
  const saveStart = performance.now();
  const bytes = await trainerCheckpoint(run.trainer, { teacher: { name: teacher.config.name, sha256: teacher.sha256 }, network: run.network.spec, steps: 1, lrFinal: PID_DEFAULTS.lr });
  const checkpoint = `${(performance.now() - saveStart).toFixed(0)} ms, ${(bytes.byteLength / 1e6).toFixed(2)} MB`;
  const shape = teacher.config.data.shape;
  const z = tf.tensor(new Rng(2).normals(UNET_IMAGES * shape.reduce((a, b) => a * b, 1), 80), [UNET_IMAGES, ...shape]);
  const oneStepMs = await timeIt(async () => {
    const x = pidOneStep(run.network.apply, teacher.config.edm, z);
    await x.data();
    x.dispose();
  }, 3);
  const start = performance.now();
  const { x, nfe } = sampleHeun(teacher.denoiser, z, edmSamplingSigmas(18, 0.002, 80, 7));
  if (nfe !== 35) throw new Error(`expected 35 NFE, got ${nfe}`);
  await x.data();
  const heunMs = performance.now() - start;
  tf.dispose([x, z]);
  run.done();
  return [label, heunMs.toFixed(0), oneStepMs.toFixed(1), (heunMs / oneStepMs).toFixed(1), checkpoint];
}

for (const name of BACKENDS) {
  if (name === 'webgpu') adapter = (await (await import('../src/cli/webgpu-node')).installNodeWebGpu()).description;
  const backend = await startBackend(name);
  const label = name === 'webgpu' ? `${backend.got} (${adapter})` : backend.got;
  const teacher = loadTeacher(model);
  const mlp = trainerFor(teacher, 256);
  const f = await measurePidSteps(mlp.trainer, MLP_STEPS[name], CHUNK);
  mlp.done();
  stepRows.push(stepRow(label, 'moons MLP', 256, f));
  notes.push(`${label}, moons MLP: ${f.top}`);
  if (SAMPLING) samplingRows.push(await mlpSamplingRow(label, teacher));
  teacher.dispose();

  const unetSteps = Number(process.env.BENCH_UNET_STEPS ?? UNET_STEPS[name]);
  if (name !== 'cpu' && unetSteps > 0) {
    const imageTeacher = loadTeacher(imageModel);
    for (const batch of UNET_BATCHES) {
      const unet = trainerFor(imageTeacher, batch);
      const g = await measurePidSteps(unet.trainer, unetSteps, Math.min(CHUNK, unetSteps));
      unet.done();
      stepRows.push(stepRow(label, 'mnist28 UNet', batch, g));
      if (batch === UNET_BATCHES[0]) notes.push(`${label}, mnist28 UNet: ${g.top}`);
    }
    if (SAMPLING) imageRows.push(await imageSamplingRow(label, imageTeacher));
    imageTeacher.dispose();
  }
}

const torch = torchStep(256, 200);
let ratio = '';
if (typeof torch === 'string') {
  notes.push(`PyTorch: not measured (${torch})`);
} else {
  stepRows.push([`PyTorch ${torch.version} CPU, 1 thread`, 'moons MLP', '256', '-', '-', torch.perSecond.toFixed(2), '-']);
  const wasm = stepRows.find((r) => r[0] === 'wasm' && r[1] === 'moons MLP');
  if (wasm) {
    const best = Math.max(Number(wasm[5]), Number(wasm[6]) || 0);
    ratio = `moons MLP: wasm ${best.toFixed(2)} steps/s (the faster of the two ways) against PyTorch CPU (1 thread) ${torch.perSecond.toFixed(2)}: ${(best / torch.perSecond).toFixed(2)}x`;
  }
}

function printTable(header: string[], body: string[][]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of body) console.log(`| ${r.join(' | ')} |`);
}

const imageNet = imageModel.config.network as LearnedNetworkSpec;
const gpu = adapter ? `; webgpu adapter: ${adapter}` : '';
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}${gpu}`);
console.log(`moons MLP: ${TEACHER} (${JSON.stringify(model.config.network)}, ${parameterCount(model.config.network as LearnedNetworkSpec, [2]).toLocaleString('en-US')} parameters); mnist28 UNet: ${IMAGE_TEACHER} (${imageNet.type} ${imageModel.config.data.shape.join('x')}, ${parameterCount(imageNet, imageModel.config.data.shape).toLocaleString('en-US')} parameters); students initialised from the teachers, PID defaults (RAdam, EMA 0.999, l2, N 250)\n`);
printTable(['backend', 'network', 'batch', 'kernels/step (trainStep)', `kernels/step (trainSteps ${CHUNK})`, 'steps/s (trainStep)', `steps/s (trainSteps ${CHUNK})`], stepRows);
if (ratio) console.log(`\n${ratio}`);
console.log(`\nmost frequent kernels of one trainStep:\n${notes.map((n) => `  ${n}`).join('\n')}`);

if (samplingRows.length) {
  console.log();
  printTable(['backend', `moons teacher Heun 35 NFE, ${POINTS} pts (ms)`, `student 1 NFE, ${POINTS} pts (ms)`, 'speed-up'], samplingRows);
}
if (imageRows.length) {
  const n = UNET_IMAGES;
  console.log();
  printTable(['backend', `mnist28 teacher Heun 35 NFE, ${n} images (ms)`, `student 1 NFE, ${n} images (ms)`, 'speed-up', `checkpoint at batch ${UNET_BATCHES[0]} (read back + serialised)`], imageRows);
}

/**
 * `npm run bench [wasm,cpu,webgpu]`: speed, measured, printed as tables (never asserted in tests).
 *  - PID training step: tfjs kernels per step and steps/s, one trainStep at a time and in trainSteps chunks, for the
 *    built-in moons MLP teacher (64x2 MLP student initialised from it) at batch 256 and the built-in mnist28 UNet
 *    (student initialised from it) at batch 32 (not on cpu: a step takes about a minute there); and, when
 *    /usr/bin/python3 has torch, PyTorch's CPU step of the same MLP on one thread (bench/torch_pid_mlp.py); and EDM's
 *    SongUNet sized like the 28x28 digits at batch 32 against PyTorch's (bench/torch_pid_songunet.py), with the BLAS
 *    Debian's torch runs on named (install libopenblas0-pthread: the reference BLAS is many times slower);
 *  - sampling: teacher EDM Heun (18 points + 0 = 35 NFE) against student one step (1 NFE), 4096 points / 256 images,
 *    and what a checkpoint of a UNet run costs.
 * webgpu runs in Node through Dawn (src/core/webgpu-node.ts); its adapter is named in the table.
 * Environment: BENCH_UNET_STEPS (steps timed per UNet batch; 0 skips the UNet), BENCH_UNET_BATCHES (32),
 * BENCH_CHUNK (steps per trainSteps call, 10), BENCH_SAMPLING=0 (skip the sampling tables), BENCH_TORCH=0 (skip PyTorch),
 * BENCH_SONG_STEPS (SongUNet steps timed, 3; 0 skips it), BENCH_SONG_BATCH (32), BENCH_MLP_STEPS (moons MLP steps
 * timed; default per backend, 30 on webgpu), BENCH_SIMD=0 (wasm without the SIMD kernels of
 * src/core/kernels/simd-module.ts: the filter gradient, batched products and GroupNorm as before them).
 * On webgpu the table also gives the GPU compute dispatches of one trainStep (bench/kernel-count.ts's countDispatches:
 * dispatchWorkgroups counted), the fixed cost per step on a real GPU, and its buffer copies apart; quick on lavapipe:
 *   BENCH_UNET_BATCHES=2 BENCH_UNET_STEPS=1 BENCH_SONG_BATCH=2 BENCH_SONG_STEPS=1 BENCH_MLP_STEPS=1 BENCH_SAMPLING=0 \
 *   BENCH_TORCH=0 npm run bench -- webgpu
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, startBackend } from '../src/core/backend';
import { trainerCheckpoint } from '../src/core/checkpoint';
import { type Teacher, createStudentNetwork, loadTeacher } from '../src/core/models';
import { type LearnedNetworkSpec, parameterCount } from '../src/core/nets';
import { readAnyModel } from '../src/core/model-import';
import { PidTrainer, PID_DEFAULTS } from '../src/core/pid';
import { useSimdKernels } from '../src/core/kernels/simd-module';
import { Rng } from '../src/core/rng';
import { edmSamplingSigmas, sampleHeun } from '../src/core/samplers';
import { pidOneStep } from '../src/core/student';
import { readModelFile } from '../src/formats/model-file';
import { type StepFigures, measurePidSteps } from './pid-step';
import { SONGUNET28, writeSongUnet28 } from './songunet28';

const TEACHER = 'public/teachers/moons-mlp.safetensors';
const IMAGE_TEACHER = 'public/teachers/mnist28-unet.safetensors';
const BACKENDS: BackendName[] = (process.argv[2]?.split(',') as BackendName[]) ?? ['wasm', 'cpu'];
const MLP_STEPS = { wasm: 100, cpu: 15, webgl: 30, webgpu: 30 } as const;
const MLP_STEPS_SET = process.env.BENCH_MLP_STEPS === undefined ? null : Number(process.env.BENCH_MLP_STEPS);
const SONG_BATCH = Number(process.env.BENCH_SONG_BATCH ?? 32);
const UNET_STEPS = { wasm: 4, cpu: 0, webgl: 3, webgpu: 20 } as const;
const UNET_BATCHES = (process.env.BENCH_UNET_BATCHES ?? '32').split(',').map(Number);
const CHUNK = Number(process.env.BENCH_CHUNK ?? 10);
const SAMPLING = process.env.BENCH_SAMPLING !== '0';
const POINTS = 4096;
const UNET_IMAGES = Number(process.env.BENCH_UNET_IMAGES ?? 256);
const PYTHON = '/usr/bin/python3';

tf.enableProdMode();
const SIMD = process.env.BENCH_SIMD !== '0';
useSimdKernels(SIMD);
const readModel = (file: string) => readModelFile([{ name: file, bytes: new Uint8Array(readFileSync(file)) }]);
const model = await readModel(TEACHER);
const imageModel = await readModel(IMAGE_TEACHER);
const stepRows: string[][] = [];
const notes: string[] = [];
const samplingRows: string[][] = [];
const imageRows: string[][] = [];
let adapter = '';
let songRatio = '';

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
  return [label, net, `${batch}`, `${f.kernelsPerStep}`, opt(f.kernelsPerChunkedStep, 0), f.dispatchesPerStep === null ? '-' : `${f.dispatchesPerStep} (+${f.copiesPerStep} copies)`, f.stepsPerSecond.toFixed(2), opt(f.chunkedStepsPerSecond, 2)];
}

/** A PyTorch CPU step script's figures (one thread), or why there are none. */
function torchScript(script: string, args: string[]): { perSecond: number; version: string; blas: string } | string {
  if (process.env.BENCH_TORCH === '0') return 'BENCH_TORCH=0';
  if (!existsSync(PYTHON)) return `no ${PYTHON}`;
  const r = spawnSync(PYTHON, [script, ...args], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return /No module named 'torch'/.test(r.stderr) ? `${PYTHON} has no torch` : `${script} failed: ${r.stderr.trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { perSecond: out.stepsPerSecond, version: out.torch, blas: out.blas ?? blasName() };
}

/** The BLAS Debian's torch runs on: whatever libblas.so.3 points to (the reference BLAS is many times slower). */
function blasName(): string {
  try {
    return realpathSync('/etc/alternatives/libblas.so.3-x86_64-linux-gnu');
  } catch {
    return 'unknown';
  }
}

/** PyTorch's CPU step of the same MLP on one thread, or why there is none. */
const torchStep = (batch: number, steps: number) => torchScript('bench/torch_pid_mlp.py', [TEACHER, `${batch}`, `${steps}`]);

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
  if (name === 'webgpu') adapter = (await (await import('../src/core/webgpu-node')).installNodeWebGpu()).description;
  const backend = await startBackend(name);
  const label = name === 'webgpu' ? `${backend.got} (${adapter})` : backend.got;
  const teacher = loadTeacher(model);
  const mlp = trainerFor(teacher, 256);
  const f = await measurePidSteps(mlp.trainer, MLP_STEPS_SET ?? MLP_STEPS[name], Math.min(CHUNK, MLP_STEPS_SET ?? CHUNK));
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

// EDM's SongUNet sized like the 28x28 digits (model_channels 16, channel_mult [1,2,2], attention at 7x7), batch 32
// (BENCH_SONG_BATCH),
// ours on each backend against PyTorch's CPU step on one thread (bench/torch_pid_songunet.py), from one .pt file.
const songSteps = Number(process.env.BENCH_SONG_STEPS ?? 3);
if (songSteps > 0) {
  const dir = mkdtempSync(join(tmpdir(), 'pid-bench-'));
  const file = join(dir, 'songunet28.pt');
  writeSongUnet28(file);
  const song = loadTeacher(await readAnyModel([{ name: 'songunet28.pt', bytes: new Uint8Array(readFileSync(file)) }]));
  for (const name of BACKENDS.filter((b) => b !== 'cpu')) {
    await startBackend(name);
    const run = trainerFor(song, SONG_BATCH);
    const g = await measurePidSteps(run.trainer, songSteps, songSteps);
    run.done();
    stepRows.push(stepRow(name === 'webgpu' ? `webgpu (${adapter})` : name, 'EDM SongUNet 28x28', SONG_BATCH, g));
  }
  song.dispose();
  const torchSong = torchScript('bench/torch_pid_songunet.py', [file, JSON.stringify(SONGUNET28), `${SONG_BATCH}`, `${songSteps + 2}`]);
  if (typeof torchSong === 'string') notes.push(`PyTorch SongUNet: not measured (${torchSong})`);
  else {
    stepRows.push([`PyTorch ${torchSong.version} CPU, 1 thread (BLAS ${torchSong.blas})`, 'EDM SongUNet 28x28', `${SONG_BATCH}`, '-', '-', '-', torchSong.perSecond.toFixed(2), '-']);
    const wasm = stepRows.find((r) => r[0] === 'wasm' && r[1] === 'EDM SongUNet 28x28');
    if (wasm) songRatio = `EDM SongUNet 28x28: wasm ${Number(wasm[7] === '-' ? wasm[6] : wasm[7]).toFixed(2)} steps/s against PyTorch CPU (1 thread, ${torchSong.blas}) ${torchSong.perSecond.toFixed(2)}: ${(Number(wasm[7] === '-' ? wasm[6] : wasm[7]) / torchSong.perSecond).toFixed(2)}x`;
  }
  rmSync(dir, { recursive: true, force: true });
}

const torch = torchStep(256, 200);
let ratio = '';
if (typeof torch === 'string') {
  notes.push(`PyTorch: not measured (${torch})`);
} else {
  stepRows.push([`PyTorch ${torch.version} CPU, 1 thread (BLAS ${torch.blas})`, 'moons MLP', '256', '-', '-', '-', torch.perSecond.toFixed(2), '-']);
  const wasm = stepRows.find((r) => r[0] === 'wasm' && r[1] === 'moons MLP');
  if (wasm) {
    const best = Math.max(Number(wasm[6]), Number(wasm[7]) || 0);
    ratio = `moons MLP: wasm ${best.toFixed(2)} steps/s (the faster of the two ways) against PyTorch CPU (1 thread, ${torch.blas}) ${torch.perSecond.toFixed(2)}: ${(best / torch.perSecond).toFixed(2)}x`;
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
console.log(`wasm kernels: ${SIMD ? 'with the SIMD kernels (filter gradient, batched products, GroupNorm)' : 'without the SIMD kernels (BENCH_SIMD=0)'}`);
console.log(`moons MLP: ${TEACHER} (${JSON.stringify(model.config.network)}, ${parameterCount(model.config.network as LearnedNetworkSpec, [2]).toLocaleString('en-US')} parameters); mnist28 UNet: ${IMAGE_TEACHER} (${imageNet.type} ${imageModel.config.data.shape.join('x')}, ${parameterCount(imageNet, imageModel.config.data.shape).toLocaleString('en-US')} parameters); students initialised from the teachers, PID defaults (RAdam, EMA 0.999, l2, N 250)\n`);
printTable(['backend', 'network', 'batch', 'kernels/step (trainStep)', `kernels/step (trainSteps ${CHUNK})`, 'GPU dispatches/step (trainStep; buffer copies apart)', 'steps/s (trainStep)', `steps/s (trainSteps ${CHUNK})`], stepRows);
if (ratio) console.log(`\n${ratio}`);
if (songRatio) console.log(songRatio);
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

/**
 * Trains a teacher with EDM's denoising loss (src/core/edm-training.ts) and writes it as a pid-studio teacher file.
 * Reproducible from --seed; resumable: --checkpoint <file> is saved every --checkpoint-every seconds, --resume
 * continues from it.
 *   npm run train-teacher -- --data moons --out public/teachers/moons-mlp.safetensors
 *   npm run train-teacher -- --data mnist14 --network '{"type":"unet",...}' --ema 0.999 --out ... --checkpoint t.ckpt
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { startBackend } from '../src/core/backend';
import { DATASETS_2D, type Dataset2d, sampleDataset2d } from '../src/core/datasets2d';
import { EdmTeacherTrainer } from '../src/core/edm-training';
import { type LearnedNetworkSpec, Network, initParams, parameterCount } from '../src/core/nets';
import { fromParams } from '../src/core/nets/params';
import { Rng } from '../src/core/rng';
import { UsageError, parseOptions } from '../src/cli/args';
import { loadMnist } from '../src/cli/mnist';
import { parseNetworkOption } from '../src/cli/network-option';
import { DEFAULT_EDM, type DataSpec, type PidStudioConfig } from '../src/formats/config';
import { MLP_DEFAULTS } from '../src/formats/mlp-network';
import { writeModelFile } from '../src/formats/model-file';
import { readSafetensors, writeSafetensors } from '../src/formats/safetensors';

const IMAGE_DATA = { mnist: 28, mnist14: 14 } as const;
type DataName = Dataset2d | keyof typeof IMAGE_DATA;

const o = parseOptions(
  process.argv.slice(2),
  { data: 'string', out: 'string', name: 'string', network: 'string', steps: 'integer', batch: 'integer', lr: 'number', ema: 'number', seed: 'integer', backend: 'string', checkpoint: 'string', 'checkpoint-every': 'number', resume: 'flag' },
  'train-teacher',
);
const dataName = (o.data ?? 'moons') as DataName;
const side = IMAGE_DATA[dataName as keyof typeof IMAGE_DATA];
if (!side && !DATASETS_2D.includes(dataName as Dataset2d)) throw new UsageError(`train-teacher: --data must be one of ${[...DATASETS_2D, ...Object.keys(IMAGE_DATA)].join(', ')}`);
if (typeof o.out !== 'string') throw new UsageError('train-teacher: --out <file.safetensors> is required');
if (o.resume && typeof o.checkpoint !== 'string') throw new UsageError('train-teacher: --resume needs --checkpoint <file>');
const data: DataSpec = { shape: side ? [side, side, 1] : [2], range: [-1, 1] };
if (side && typeof o.network !== 'string') throw new UsageError('train-teacher: image data needs --network <json> (e.g. a unet, README)');
const spec: LearnedNetworkSpec = typeof o.network === 'string' ? parseNetworkOption(o.network, data, '--network', 'train-teacher') : { type: 'mlp', ...MLP_DEFAULTS };
const steps = (o.steps as number) ?? 20000;
const batch = (o.batch as number) ?? (side ? 64 : 512);
const lr = (o.lr as number) ?? 2e-3;
const emaRate = (o.ema as number) ?? 0;
const seed = (o.seed as number) ?? 0;
const every = ((o['checkpoint-every'] as number) ?? 60) * 1000;

const backend = await startBackend((o.backend as 'wasm' | 'cpu') ?? 'wasm');
tf.enableProdMode();
const rng = new Rng(seed);
const net = new Network(spec, data.shape, initParams(spec, data.shape, rng), true);
const trainer = new EdmTeacherTrainer(net, DEFAULT_EDM.sigma_data, lr, rng, emaRate);
const images = side ? loadMnist('train', side) : null;
const drawBatch = (): Float32Array => {
  if (!images) return sampleDataset2d(dataName as Dataset2d, batch, trainer.rng);
  const size = side * side;
  const out = new Float32Array(batch * size);
  for (let b = 0; b < batch; b++) {
    const j = trainer.rng.int(images.n);
    out.set(images.images.subarray(j * size, (j + 1) * size), b * size);
  }
  return out;
};

const saveCheckpoint = async () => {
  if (typeof o.checkpoint !== 'string') return;
  const { tensors, ...scalars } = await trainer.saveState();
  writeFileSync(`${o.checkpoint}.tmp`, writeSafetensors(tensors, { pid_studio_teacher_training: JSON.stringify({ ...scalars, spec, data: dataName, steps }) }));
  renameSync(`${o.checkpoint}.tmp`, o.checkpoint);
};
if (o.resume && existsSync(o.checkpoint as string)) {
  const file = o.checkpoint as string;
  const contents = readSafetensors(new Uint8Array(readFileSync(file)), file);
  const meta = JSON.parse(contents.metadata.pid_studio_teacher_training ?? 'null');
  if (!meta || JSON.stringify(meta.spec) !== JSON.stringify(spec) || meta.data !== dataName) {
    throw new UsageError(`train-teacher: ${file} is not a checkpoint of this run (other --data or --network)`);
  }
  trainer.loadState({ ...meta, tensors: new Map([...contents.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }])) });
  console.log(`resuming from ${file} at step ${trainer.step}`);
}

console.log(`training a ${spec.type} teacher (${parameterCount(spec, data.shape).toLocaleString('en-US')} parameters) on ${dataName}: ${steps} steps, batch ${batch}, lr ${lr}, ema ${emaRate}, backend ${backend.got}`);
const start = performance.now();
const startStep = trainer.step;
let lastSave = start;
let avg = NaN;
while (trainer.step < steps) {
  const step = trainer.step + 1;
  trainer.optimizer.lr = lr * 0.5 * (1 + Math.cos((Math.PI * step) / steps)) + lr * 0.01; // cosine decay
  const loss = await trainer.trainStep(drawBatch());
  if (!Number.isFinite(loss)) throw new Error(`the loss became ${loss} at step ${step}: lower --lr`);
  avg = Number.isNaN(avg) ? loss : 0.99 * avg + 0.01 * loss;
  if (performance.now() - lastSave > every) {
    await saveCheckpoint();
    lastSave = performance.now();
  }
  if (step % 100 === 0 || step === steps) {
    const s = (performance.now() - start) / 1000;
    const perStep = s / (step - startStep);
    console.log(`step ${step}/${steps}  loss ${avg.toFixed(4)}  ${perStep.toFixed(2)} s/step  ${s.toFixed(0)} s elapsed, ${(perStep * (steps - step)).toFixed(0)} s left`);
  }
}
await saveCheckpoint();
const config: PidStudioConfig = {
  format: 'pid-studio/1',
  role: 'teacher',
  name: (o.name as string) ?? `${dataName} (${spec.type} teacher)`,
  data,
  edm: DEFAULT_EDM,
  network: spec,
};
writeFileSync(o.out, writeModelFile(config, await fromParams(trainer.exportParams())));
console.log(`wrote ${o.out}`);

/**
 * Trains a learned 2D teacher (network type `mlp`) with EDM's denoising loss and writes it as a pid-studio
 * teacher file. Reproducible: the data, the noise and the init all come from --seed.
 *   npm run train-teacher -- --data moons --out public/teachers/moons-mlp.safetensors
 */
import { startBackend } from '../src/core/backend';
import { DATASETS_2D, type Dataset2d, sampleDataset2d } from '../src/core/datasets2d';
import { EdmTeacherTrainer } from '../src/core/edm-training';
import { Network, initParams } from '../src/core/nets';
import { fromParams } from '../src/core/nets/params';
import { Rng } from '../src/core/rng';
import { UsageError, parseOptions } from '../src/cli/args';
import { DEFAULT_EDM, MLP_DEFAULTS, type PidStudioConfig } from '../src/formats/config';
import { writeModelFile } from '../src/formats/model-file';
import { writeFileSync } from 'node:fs';

const o = parseOptions(
  process.argv.slice(2),
  { data: 'string', out: 'string', name: 'string', steps: 'integer', batch: 'integer', lr: 'number', hidden: 'integer', blocks: 'integer', 'emb-dim': 'integer', 'emb-max-freq': 'number', seed: 'integer', backend: 'string' },
  'train-teacher',
);
const data = (o.data ?? 'moons') as Dataset2d;
if (!DATASETS_2D.includes(data)) throw new UsageError(`train-teacher: --data must be one of ${DATASETS_2D.join(', ')}`);
if (typeof o.out !== 'string') throw new UsageError('train-teacher: --out <file.safetensors> is required');
const steps = (o.steps as number) ?? 20000;
const batch = (o.batch as number) ?? 512;
const lr = (o.lr as number) ?? 2e-3;
const d = MLP_DEFAULTS;
const spec = { type: 'mlp' as const, hidden: (o.hidden as number) ?? d.hidden, blocks: (o.blocks as number) ?? d.blocks, emb_dim: (o['emb-dim'] as number) ?? d.emb_dim, emb_max_freq: (o['emb-max-freq'] as number) ?? d.emb_max_freq };
const seed = (o.seed as number) ?? 0;

const backend = await startBackend((o.backend as 'wasm' | 'cpu') ?? 'wasm');
const rng = new Rng(seed);
const net = new Network(spec, [2], initParams(spec, [2], rng), true);
const trainer = new EdmTeacherTrainer(net, DEFAULT_EDM.sigma_data, lr, rng);
console.log(`training a ${spec.hidden}x${spec.blocks} mlp teacher on ${data}: ${steps} steps, batch ${batch}, backend ${backend.got}`);
const start = performance.now();
let avg = 0;
for (let step = 1; step <= steps; step++) {
  trainer.optimizer.lr = lr * 0.5 * (1 + Math.cos((Math.PI * step) / steps)) + lr * 0.01; // cosine decay
  const loss = await trainer.trainStep(sampleDataset2d(data, batch, rng));
  avg = step === 1 ? loss : 0.99 * avg + 0.01 * loss;
  if (step % 500 === 0 || step === steps) {
    const s = (performance.now() - start) / 1000;
    console.log(`step ${step}/${steps}  loss ${avg.toFixed(4)}  ${s.toFixed(0)} s elapsed, ${((s / step) * (steps - step)).toFixed(0)} s left`);
  }
}
const config: PidStudioConfig = {
  format: 'pid-studio/1',
  role: 'teacher',
  name: (o.name as string) ?? `${data} (learned MLP teacher)`,
  data: { shape: [2], range: [-1, 1] },
  edm: DEFAULT_EDM,
  network: spec,
};
writeFileSync(o.out, writeModelFile(config, await fromParams(net.params)));
console.log(`wrote ${o.out}`);

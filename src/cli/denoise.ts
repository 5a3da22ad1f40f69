/** `pid-studio denoise`: D(x, sigma) of a teacher, EDM's convention (x a noisy input at level sigma), for checks against PyTorch. */
import * as tf from '@tensorflow/tfjs-core';
import { loadTeacher } from '../core/models';
import { type OptionKind, UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { readModelArg, readTensorFile, writeTensorFile } from './io';
import { labelsOption } from './labels-option';
import { checkWritableOutputs } from './output-paths';
import { precondOption } from './precond-option';

export const DENOISE_OPTIONS = {
  model: 'string', x: 'string', sigma: 'string', labels: 'string', precond: 'string', backend: 'string', out: 'string',
} as const satisfies Record<string, OptionKind>;

/** Rows per network call: keeps the activations of a large U-Net within wasm's memory. */
const ROWS_PER_CALL = 16;

export async function denoise(argv: string[], out: (line: string) => void): Promise<number> {
  const o = parseOptions(argv, DENOISE_OPTIONS, 'denoise');
  for (const key of ['model', 'x', 'sigma', 'out'] as const) {
    if (typeof o[key] !== 'string') throw new UsageError(`denoise: --${key} <file> is required`);
  }
  checkWritableOutputs([{ flag: '--out', path: o.out as string }], 'denoise');
  const model = await readModelArg(o.model as string, { precond: precondOption(o.precond, 'denoise') });
  const { config } = model;
  if (config.role !== 'teacher') throw new UsageError(`denoise: ${model.fileName} is a student; D(x, sigma) is a teacher's denoiser (a student samples in one step: use sample)`);
  const shape = config.data.shape;
  const x = readTensorFile(o.x as string, 'x', ['n', ...shape], 'an x file');
  const n = x.shape[0];
  const sigma = readTensorFile(o.sigma as string, 'sigma', [n], 'a sigma file');
  const bad = sigma.data.findIndex((s) => !(s > 0 && Number.isFinite(s)));
  if (bad >= 0) throw new UsageError(`denoise: ${o.sigma}: sigma[${bad}] is ${sigma.data[bad]}; every sigma must be a positive finite number`);
  const labels = labelsOption(o, config, n, 'denoise', 'zeros');
  const backend = await startCliBackend(o.backend);
  const teacher = loadTeacher(model);
  const size = x.data.length / n;
  const dim = config.data.label_dim ?? 0;
  const result = new Float32Array(x.data.length);
  const start = performance.now();
  for (let i = 0; i < n; i += ROWS_PER_CALL) {
    const rows = Math.min(ROWS_PER_CALL, n - i);
    const d = tf.tidy(() => teacher.denoiser.denoise(
      tf.tensor(x.data.subarray(i * size, (i + rows) * size), [rows, ...shape]),
      tf.tensor1d(sigma.data.subarray(i, i + rows)),
      labels ? tf.tensor2d(labels.data.subarray(i * dim, (i + rows) * dim), [rows, dim]) : undefined,
    ));
    result.set((await d.data()) as Float32Array, i * size);
    d.dispose();
  }
  teacher.dispose();
  writeTensorFile(o.out as string, 'D', [n, ...shape], result, `pid-studio denoise of teacher "${config.name}" (sha256 ${model.sha256.slice(0, 12)}...), precond ${teacher.precond.type}, x ${o.x}, sigma ${o.sigma}`);
  out(`wrote ${o.out}: D(x, sigma) of ${n} inputs [${shape.join(', ')}]${labels ? ` (${labels.describe})` : ''}, precond ${teacher.precond.type}, ${((performance.now() - start) / 1000).toFixed(2)} s on ${backend}`);
  return 0;
}

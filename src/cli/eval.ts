/**
 * `pid-studio eval --model <model> --n 1000 [--steps K]`: the Frechet distance between classifier features of
 * generated digits and of held-out real digits (teacher: Heun with K Karras points; student: one step).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { classifierFeatures, readClassifier } from '../core/classifier';
import { fitGaussian, frechetDistance } from '../core/frechet';
import type { Params } from '../core/nets/params';
import { Rng } from '../core/rng';
import { ModelFileError } from '../formats/errors';
import { UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { generate } from './generate';
import { readModelArg } from './io';
import { loadMnist } from './mnist';

export const CLASSIFIER_FILE = fileURLToPath(new URL('../../public/classifier/mnist-mlp.safetensors', import.meta.url));

/** Reads back asynchronously: tfjs-webgpu's synchronous read needs OffscreenCanvas, which Node lacks. */
async function features(params: Params, images: Float32Array, n: number, side: number): Promise<Float32Array> {
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i += 1024) {
    const rows = Math.min(1024, n - i);
    const f = tf.tidy(() => classifierFeatures(params, tf.tensor(images.subarray(i * side * side, (i + rows) * side * side), [rows, side, side, 1])));
    out.push((await f.data()) as Float32Array);
    f.dispose();
  }
  const all = new Float32Array(out.reduce((s, a) => s + a.length, 0));
  out.reduce((offset, a) => (all.set(a, offset), offset + a.length), 0);
  return all;
}

export async function evaluate(argv: string[], out: (line: string) => void): Promise<number> {
  const o = parseOptions(argv, { model: 'string', n: 'integer', steps: 'integer', seed: 'integer', backend: 'string' }, 'eval');
  if (typeof o.model !== 'string') throw new UsageError('eval: --model <model> is required');
  const n = (o.n as number | undefined) ?? 1000;
  const steps = (o.steps as number | undefined) ?? 18;
  if (n < 2) throw new UsageError('eval: --n must be at least 2');
  if (steps < 2) throw new UsageError('eval: --steps must be at least 2');
  const model = await readModelArg(o.model);
  const shape = model.config.data.shape;
  if (shape.length !== 3 || shape[0] !== shape[1] || shape[2] !== 1 || ![14, 28].includes(shape[0])) {
    throw new ModelFileError(model.fileName, `has data of shape [${shape.join(', ')}]; the FD score is for MNIST digits, [28, 28, 1] or [14, 14, 1]`, 'evaluate a digits model');
  }
  await startCliBackend(o.backend);
  const { params } = readClassifier(new Uint8Array(readFileSync(CLASSIFIER_FILE)), CLASSIFIER_FILE);
  const side = shape[0];
  const real = loadMnist('heldout', side as 14 | 28);
  const z = new Rng((o.seed as number | undefined) ?? 0).normals(n * side * side);
  const generated = await generate(model, z, n, 'heun', steps);
  const fd = frechetDistance(fitGaussian(await features(params, generated.x, n, side), n, 128), fitGaussian(await features(params, real.images, real.n, side), real.n, 128));
  out(`FD ${fd.toFixed(2)} (NFE ${generated.nfe}, n ${n})`);
  tf.dispose([...params.values()]);
  return 0;
}

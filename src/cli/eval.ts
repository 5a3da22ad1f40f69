/**
 * `pid-studio eval --model <model> --n 1000 [--steps K]`: the Frechet distance between classifier features of
 * generated digits and of held-out real digits (teacher: Heun with K Karras points; student: one step).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { CLASSIFIER_LAYERS, classifierFeatures, readClassifier } from '../core/classifier';
import { fitGaussian, frechetDistance } from '../core/frechet';
import type { Params } from '../core/nets/params';
import { Rng } from '../core/rng';
import { ModelFileError } from '../formats/errors';
import { type OptionKind, UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { generate } from './generate';
import { readModelArg } from './io';
import { loadMnist } from './mnist';
import { precondOption } from './precond-option';
import { roleOption } from './role-option';

export const EVAL_OPTIONS = { model: 'string', n: 'integer', steps: 'integer', seed: 'integer', backend: 'string', precond: 'string', role: 'string' } as const satisfies Record<string, OptionKind>;

export const CLASSIFIER_FILE = fileURLToPath(new URL('../../public/classifier/mnist-mlp.safetensors', import.meta.url));

/** The classifier's feature dimension: the FD compares two Gaussians with d x d covariances. */
const FEATURES = CLASSIFIER_LAYERS[1][1];

/**
 * The fewest samples for a stable FD: the d x d covariance of the generated features is singular below d samples and
 * noisy near it (hence 2d), and the FD's small-sample bias grows as 1/n (Chong & Forsyth 2020, "Effectively Unbiased
 * FID") (hence no fewer than 500). Measured on the class-mean mixture of test/cli/eval.test.ts (wasm, seeds 0-4): mean FD
 * 140.7 (spread 23.5) at n 150, 130.8 at 300, 126.7 (spread 3.4) at 500, 126.0 at 1000.
 */
export const fdMinimumSamples = (features: number) => Math.max(500, 2 * features);

/** The warning for an n below fdMinimumSamples, or null. */
export function fdSampleWarning(n: number, features = FEATURES): string | null {
  const need = fdMinimumSamples(features);
  if (n >= need) return null;
  return `warning: n ${n} is too few for a stable FD over ${features} classifier features; use --n ${need} or more`;
}

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

export async function evaluate(argv: string[], out: (line: string) => void, warn: (line: string) => void = () => {}): Promise<number> {
  const o = parseOptions(argv, EVAL_OPTIONS, 'eval');
  if (typeof o.model !== 'string') throw new UsageError('eval: --model <model> is required');
  const n = (o.n as number | undefined) ?? 1000;
  const steps = (o.steps as number | undefined) ?? 18;
  if (n < 2) throw new UsageError('eval: --n must be at least 2');
  if (steps < 2) throw new UsageError('eval: --steps must be at least 2');
  const model = await readModelArg(o.model, { precond: precondOption(o.precond, 'eval'), role: roleOption(o.role, 'eval') });
  const shape = model.config.data.shape;
  if (shape.length !== 3 || shape[0] !== shape[1] || shape[2] !== 1 || ![14, 28].includes(shape[0])) {
    throw new ModelFileError(model.fileName, `has data of shape [${shape.join(', ')}]; the FD score is for MNIST digits, [28, 28, 1] or [14, 14, 1]`, 'evaluate a digits model');
  }
  const warning = fdSampleWarning(n);
  if (warning) warn(warning);
  await startCliBackend(o.backend);
  const { params } = readClassifier(new Uint8Array(readFileSync(CLASSIFIER_FILE)), CLASSIFIER_FILE);
  const side = shape[0];
  const real = loadMnist('heldout', side as 14 | 28);
  const z = new Rng((o.seed as number | undefined) ?? 0).normals(n * side * side);
  const generated = await generate(model, z, n, 'heun', steps);
  const fd = frechetDistance(fitGaussian(await features(params, generated.x, n, side), n, FEATURES), fitGaussian(await features(params, real.images, real.n, side), real.n, FEATURES));
  out(`FD ${fd.toFixed(2)} (NFE ${generated.nfe}, n ${n})`);
  tf.dispose([...params.values()]);
  return 0;
}

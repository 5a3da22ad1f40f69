/**
 * The MNIST feature extractor of the Frechet-distance score: an MLP classifier, 784 -> 256 -> 128 -> 10 with SiLU.
 * Its 128 penultimate activations are the features. Images of other sizes (the 14x14 digits) are upsampled to 28x28
 * by repeating pixels. Tensors fc0, fc1, head (nn.Linear layout); config in __metadata__.pid_studio_classifier.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelFileError } from '../formats/errors';
import { readSafetensors, writeSafetensors } from '../formats/safetensors';
import { type HostTensor, type Params, linear, linearInit, silu, toParams } from './nets/params';
import type { Rng } from './rng';

export const CLASSIFIER_FORMAT = 'pid-studio-classifier/1';
export const CLASSIFIER_LAYERS: [name: string, out: number, inp: number][] = [
  ['fc0', 256, 784],
  ['fc1', 128, 256],
  ['head', 10, 128],
];

export interface ClassifierInfo {
  format: typeof CLASSIFIER_FORMAT;
  /** Accuracy on the held-out digits, measured when it was trained. */
  heldoutAccuracy: number;
  trainedSteps: number;
}

export function initClassifier(rng: Rng): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, o, i] of CLASSIFIER_LAYERS) {
    out.set(`${name}.weight`, linearInit([o, i], i, rng));
    out.set(`${name}.bias`, linearInit([o], i, rng));
  }
  return out;
}

/** Images [B, H, W, 1] in [-1, 1], H = W = 28 or a divisor of it -> [B, 784]. */
function flatten28(images: tf.Tensor): tf.Tensor2D {
  const [b, h, w] = images.shape;
  if (h !== w || 28 % h !== 0) throw new Error(`the classifier takes square images of side dividing 28, got ${h}x${w}`);
  const k = 28 / h;
  const up = k === 1 ? images : tf.reshape(tf.tile(tf.reshape(images, [b, h, 1, w, 1, 1]), [1, 1, k, 1, k, 1]), [b, 28, 28, 1]);
  return tf.reshape(up, [b, 784]) as tf.Tensor2D;
}

export function classifierFeatures(params: Params, images: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => silu(linear(params, 'fc1', silu(linear(params, 'fc0', flatten28(images))) as tf.Tensor2D)) as tf.Tensor2D);
}

export function classifierLogits(params: Params, images: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => linear(params, 'head', classifierFeatures(params, images)));
}

export function classifierBytes(params: Map<string, HostTensor>, info: ClassifierInfo): Uint8Array {
  return writeSafetensors(params, { pid_studio_classifier: JSON.stringify(info) });
}

export function readClassifier(bytes: Uint8Array, fileName: string): { params: Params; info: ClassifierInfo } {
  const contents = readSafetensors(bytes, fileName);
  const text = contents.metadata.pid_studio_classifier;
  let info: ClassifierInfo | null = null;
  try {
    info = text ? JSON.parse(text) : null;
  } catch {
    info = null;
  }
  if (!info || info.format !== CLASSIFIER_FORMAT) throw new ModelFileError(fileName, `is not a ${CLASSIFIER_FORMAT} file`, 'run npm run train-classifier');
  for (const [name, o, i] of CLASSIFIER_LAYERS) {
    const w = contents.tensors.get(`${name}.weight`);
    if (!w || w.shape.join() !== `${o},${i}`) throw new ModelFileError(fileName, `tensor '${name}.weight' is missing or not [${o}, ${i}]`, 'run npm run train-classifier');
  }
  const host = new Map([...contents.tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  return { params: toParams(host, false), info };
}

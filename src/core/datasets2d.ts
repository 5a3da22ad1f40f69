/** Procedural 2D data sets for learned teachers, scaled to roughly unit-half spread (sigma_data = 0.5) in [-1, 1]. */
import type { Rng } from './rng';

export type Dataset2d = 'moons' | 'swiss-roll';
export const DATASETS_2D: Dataset2d[] = ['moons', 'swiss-roll'];

/** Two interleaved half circles with Gaussian jitter, centred and scaled into [-1, 1]. */
function moon(rng: Rng): [number, number] {
  const upper = rng.uniform() < 0.5;
  const a = Math.PI * rng.uniform();
  const [x, y] = upper ? [Math.cos(a), Math.sin(a)] : [1 - Math.cos(a), 0.5 - Math.sin(a)];
  return [((x - 0.5) / 1.5) * 0.9 + 0.03 * rng.normal(), ((y - 0.25) / 1.5) * 1.4 + 0.03 * rng.normal()];
}

/** A swiss roll: r = theta / (4.5 pi), theta in [1.5 pi, 4.5 pi]. */
function swissRoll(rng: Rng): [number, number] {
  const theta = Math.PI * (1.5 + 3 * rng.uniform());
  const r = (theta / (4.5 * Math.PI)) * 0.9;
  return [r * Math.cos(theta) + 0.02 * rng.normal(), r * Math.sin(theta) + 0.02 * rng.normal()];
}

export function sampleDataset2d(name: Dataset2d, n: number, rng: Rng): Float32Array {
  const draw = name === 'moons' ? moon : swissRoll;
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) [out[2 * i], out[2 * i + 1]] = draw(rng);
  return out;
}

/** The network type `gaussian-mixture`: an analytic teacher, a mixture of isotropic Gaussians (no tensors). */
import { type DataSpec, type Obj, POSITIVE, Section, isFiniteNum, isPositive } from './config-section.ts';

export interface GaussianMixtureNetwork { type: 'gaussian-mixture'; weights: number[]; means: number[][]; stds: number[] }

export function parseGaussianMixture(o: Obj, file: string, data: DataSpec): GaussianMixtureNetwork {
  const s = new Section(file, 'network', o, ['type', 'weights', 'means', 'stds']);
  const dim = data.shape.reduce((a, b) => a * b, 1);
  const list = (key: string): unknown[] => s.get(key, (v) => Array.isArray(v) && v.length > 0, 'a non-empty array with one entry per component');
  const weights = list('weights');
  const means = list('means');
  const stds = list('stds');
  const k = weights.length;
  for (const [key, arr] of [['means', means], ['stds', stds]] as const) {
    if (arr.length !== k) s.fail(key, `an array of ${k} entries, one per component like network.weights`, arr);
  }
  weights.forEach((w, i) => { if (!(isFiniteNum(w) && w >= 0)) s.fail(`weights[${i}]`, 'a non-negative finite number', w); });
  stds.forEach((v, i) => { if (!isPositive(v)) s.fail(`stds[${i}]`, POSITIVE, v); });
  means.forEach((m, i) => {
    if (!Array.isArray(m) || m.length !== dim || !m.every(isFiniteNum)) {
      s.fail(`means[${i}]`, `an array of ${dim} finite numbers (the product of data.shape [${data.shape}])`, m);
    }
  });
  const w = weights as number[];
  const sum = w.reduce((a, b) => a + b, 0);
  if (!(sum > 0) || !Number.isFinite(sum)) s.fail('weights', 'non-negative numbers with a positive finite sum', weights);
  // Normalised only when off by more than rounding, so that parsing a written config changes nothing.
  const normalised = Math.abs(sum - 1) > 1e-12 ? w.map((x) => x / sum) : [...w];
  return { type: 'gaussian-mixture', weights: normalised, means: (means as number[][]).map((m) => [...m]), stds: [...stds as number[]] };
}

/** Class labels for class-conditional models on the command line: `--labels <file>` or `--class K`. */
import type { PidStudioConfig } from '../formats/config';
import { UsageError } from './args';
import { readTensorFile } from './io';

export type LabelsDefault = 'every class in turn' | 'zeros';

/**
 * One-hot rows [n, label_dim] (row-major), or null for an unconditional model. Without an option: every class in
 * turn (sample) or zeros (denoise, as EDM's EDMPrecond does when no class_labels are given).
 */
export function labelsOption(o: { labels?: unknown; class?: unknown }, config: PidStudioConfig, n: number, command: string, fallback: LabelsDefault):
  { data: Float32Array; describe: string } | null {
  const dim = config.data.label_dim ?? 0;
  if (o.labels !== undefined && o.class !== undefined) throw new UsageError(`${command}: give --labels <file> or --class K, not both`);
  if (dim === 0) {
    if (o.labels !== undefined || o.class !== undefined) throw new UsageError(`${command}: the model is unconditional (data.label_dim 0): leave out --labels and --class`);
    return null;
  }
  const data = new Float32Array(n * dim);
  if (typeof o.labels === 'string') {
    const t = readTensorFile(o.labels, 'labels', [n, dim], 'a labels file');
    return { data: t.data, describe: `labels from ${o.labels}` };
  }
  if (o.class !== undefined) {
    const k = o.class as number;
    if (!(Number.isInteger(k) && k >= 0 && k < dim)) throw new UsageError(`${command}: --class must be an integer in 0 .. ${dim - 1} (got ${k})`);
    for (let i = 0; i < n; i++) data[i * dim + k] = 1;
    return { data, describe: `class ${k}` };
  }
  if (fallback === 'zeros') return { data, describe: 'no class (zero labels, as EDM without class_labels)' };
  for (let i = 0; i < n; i++) data[i * dim + (i % dim)] = 1;
  return { data, describe: `every class in turn (0 .. ${dim - 1})` };
}

/**
 * `pid-studio export --format pytorch`: a model's weights as a torch.save state dict under the original names (the
 * prefix stripped on import put back), for torch.load(path, weights_only=True) and load_state_dict(strict=True).
 */
import { writeTorchStateDict } from '../formats/torch-file';
import { UsageError, parseOptions } from './args';
import { readModelArg, writeFile } from './io';

export async function exportModel(argv: string[], out: (line: string) => void): Promise<number> {
  const [input, ...rest] = argv;
  if (!input || input.startsWith('--')) throw new UsageError('usage: pid-studio export <student> --format pytorch --out <file.pt>');
  const o = parseOptions(rest, { format: 'string', out: 'string' }, 'export');
  if (o.format !== 'pytorch') throw new UsageError(`export: --format must be pytorch (got ${o.format === undefined ? 'nothing' : `'${String(o.format)}'`})`);
  if (typeof o.out !== 'string') throw new UsageError('export: --out <file.pt> is required');
  const model = await readModelArg(input);
  const { config } = model;
  if (model.tensors.size === 0) throw new UsageError(`export: ${model.fileName} is an analytic ${config.network.type} model: it has no weights to export`);
  const prefix = config.pytorch?.prefix ?? '';
  const tensors = new Map([...model.tensors].map(([name, t]) => [prefix + name, { shape: t.shape, data: t.data }]));
  writeFile(o.out, writeTorchStateDict(tensors));
  out(`wrote ${o.out}: ${tensors.size} tensors of the ${config.role} "${config.name}" (${config.network.type}) as a PyTorch state dict${prefix ? `, keys prefixed '${prefix}'` : ''}`);
  return 0;
}

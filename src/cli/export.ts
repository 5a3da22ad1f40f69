/**
 * `pid-studio export --format pytorch`: a model's weights as a torch.save state dict, for torch.load(path,
 * weights_only=True) and load_state_dict(strict=True):
 *   --keys original (default): the teacher's names, the prefix stripped on import put back (EDMPrecond's "model.");
 *   --keys pid: the names the PID reference code (pid_diffusion, cm/network.py) trains under: EDM's network names
 *     without a prefix and without map_augment, which its SongUNet and DhariwalUNet do not have.
 */
import { writeTorchStateDict } from '../formats/torch-file';
import { UsageError, parseOptions } from './args';
import { readModelArg, writeFile } from './io';

export async function exportModel(argv: string[], out: (line: string) => void): Promise<number> {
  const [input, ...rest] = argv;
  if (!input || input.startsWith('--')) throw new UsageError('usage: pid-studio export <student> --format pytorch --out <file.pt>');
  const o = parseOptions(rest, { format: 'string', out: 'string', keys: 'string' }, 'export');
  const keys = o.keys ?? 'original';
  if (keys !== 'original' && keys !== 'pid') throw new UsageError(`export: --keys must be original or pid (got '${String(keys)}')`);
  if (o.format !== 'pytorch') throw new UsageError(`export: --format must be pytorch (got ${o.format === undefined ? 'nothing' : `'${String(o.format)}'`})`);
  if (typeof o.out !== 'string') throw new UsageError('export: --out <file.pt> is required');
  const model = await readModelArg(input);
  const { config } = model;
  if (model.tensors.size === 0) throw new UsageError(`export: ${model.fileName} is an analytic ${config.network.type} model: it has no weights to export`);
  const edm = config.network.type === 'edm-songunet' || config.network.type === 'edm-dhariwalunet';
  if (keys === 'pid' && !edm) throw new UsageError(`export: --keys pid is for EDM networks (edm-songunet, edm-dhariwalunet), not ${config.network.type}`);
  const prefix = keys === 'pid' ? '' : config.pytorch?.prefix ?? '';
  const kept = [...model.tensors].filter(([name]) => keys !== 'pid' || !name.startsWith('map_augment.'));
  const tensors = new Map(kept.map(([name, t]) => [prefix + name, { shape: t.shape, data: t.data }]));
  writeFile(o.out, writeTorchStateDict(tensors));
  const named = keys === 'pid' ? ", under the PID reference code's names" : prefix ? `, keys prefixed '${prefix}'` : '';
  out(`wrote ${o.out}: ${tensors.size} tensors of the ${config.role} "${config.name}" (${config.network.type}) as a PyTorch state dict${named}`);
  return 0;
}

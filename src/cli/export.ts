/**
 * `pid-studio export`: a model's weights for PyTorch.
 *   --format pytorch: a torch.save state dict, for torch.load(path, weights_only=True) and load_state_dict(strict=True);
 *     --keys original (default): the teacher's names, the prefix stripped on import put back (EDMPrecond's "model.");
 *     --keys pid: the names the PID reference code (pid_diffusion, cm/network.py) trains under: EDM's network names
 *       without a prefix and without map_augment, which its SongUNet and DhariwalUNet do not have.
 *   --format diffusers (diffusers-unet2d models): the folder UNet2DModel.from_pretrained opens: config.json,
 *     diffusion_pytorch_model.safetensors and the scheduler_config.json of its DDPM schedule.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFileError } from '../formats/errors';
import { NETWORK_FORMATS, NETWORK_TYPES, networkFormat } from '../formats/network-types';
import { writeSafetensors } from '../formats/safetensors';
import { writeTorchStateDict } from '../formats/torch-file';
import { type OptionKind, UsageError, parseOptions } from './args';
import { readModelArg, writeFile } from './io';
import { checkWritableOutputs } from './output-paths';

export const EXPORT_OPTIONS = { format: 'string', out: 'string', keys: 'string' } as const satisfies Record<string, OptionKind>;

const FORMATS = ['pytorch', 'diffusers'];

export async function exportModel(argv: string[], out: (line: string) => void): Promise<number> {
  const [input, ...rest] = argv;
  if (!input || input.startsWith('--')) throw new UsageError('usage: pid-studio export <student> --format pytorch|diffusers --out <file.pt | folder>');
  const o = parseOptions(rest, EXPORT_OPTIONS, 'export');
  const keys = o.keys ?? 'original';
  if (keys !== 'original' && keys !== 'pid') throw new UsageError(`export: --keys must be original or pid (got '${String(keys)}')`);
  if (!FORMATS.includes(o.format as string)) throw new UsageError(`export: --format must be pytorch or diffusers (got ${o.format === undefined ? 'nothing' : `'${String(o.format)}'`})`);
  if (typeof o.out !== 'string') throw new UsageError(`export: --out <${o.format === 'diffusers' ? 'folder' : 'file.pt'}> is required`);
  // A diffusers folder is made (with its parents) further down; a PyTorch file needs its folder now.
  if (o.format === 'pytorch') checkWritableOutputs([{ flag: '--out', path: o.out }], 'export');
  const model = await readModelArg(input);
  const { config } = model;
  if (model.tensors.size === 0) throw new UsageError(`export: ${model.fileName} is an analytic ${config.network.type} model: it has no weights to export`);
  const net = config.network;
  const format = networkFormat(net);
  const typesWith = (hook: 'diffusersConfig' | 'inPidReference') => NETWORK_TYPES.filter((t) => NETWORK_FORMATS[t][hook]).join(', ');

  if (o.format === 'diffusers') {
    if (!format.diffusersConfig || config.precond?.type !== 'ddpm-eps') {
      throw new UsageError(`export: --format diffusers is for diffusers UNet2DModel models (network type ${typesWith('diffusersConfig')}), not ${net.type}; use --format pytorch`);
    }
    const { type: _type, ...schedule } = config.precond;
    try {
      mkdirSync(o.out, { recursive: true });
    } catch (e) {
      throw new ModelFileError(o.out, `cannot be made as a folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'give a folder path that can be written');
    }
    const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`);
    writeFile(join(o.out, 'config.json'), json(format.diffusersConfig(net)));
    writeFile(join(o.out, 'diffusion_pytorch_model.safetensors'), writeSafetensors(new Map(model.tensors), { format: 'pt' }));
    writeFile(join(o.out, 'scheduler_config.json'), json({ _class_name: 'DDPMScheduler', ...schedule, prediction_type: 'epsilon' }));
    out(`wrote ${o.out}/: config.json, diffusion_pytorch_model.safetensors (${model.tensors.size} tensors), scheduler_config.json of the ${config.role} "${config.name}": UNet2DModel.from_pretrained opens it`);
    return 0;
  }

  const keep = keys === 'pid' ? format.inPidReference : () => true;
  if (!keep) throw new UsageError(`export: --keys pid is for EDM networks (${typesWith('inPidReference')}), not ${net.type}`);
  const prefix = keys === 'pid' ? '' : config.pytorch?.prefix ?? '';
  const tensors = new Map([...model.tensors].filter(([name]) => keep(name)).map(([name, t]) => [prefix + name, { shape: t.shape, data: t.data }]));
  writeFile(o.out, writeTorchStateDict(tensors));
  const named = keys === 'pid' ? ", under the PID reference code's names" : prefix ? `, keys prefixed '${prefix}'` : '';
  out(`wrote ${o.out}: ${tensors.size} tensors of the ${config.role} "${config.name}" (${net.type}) as a PyTorch state dict${named}`);
  return 0;
}

/** `pid-studio convert`: any model this tool reads (a PyTorch state dict, say) as a pid-studio teacher file, tensor names unchanged. */
import { writeModelFile } from '../formats/model-file';
import { type OptionKind, UsageError, parseOptions } from './args';
import { readModelArg, writeFile } from './io';
import { checkWritableOutputs } from './output-paths';
import { precondOption } from './precond-option';

export const CONVERT_OPTIONS = { out: 'string', precond: 'string', name: 'string' } as const satisfies Record<string, OptionKind>;

export async function convert(argv: string[], out: (line: string) => void): Promise<number> {
  const [input, ...rest] = argv;
  if (!input || input.startsWith('--')) throw new UsageError('usage: pid-studio convert <model> --out <teacher.safetensors> [--precond edm|vp|ve] [--name NAME]');
  const o = parseOptions(rest, CONVERT_OPTIONS, 'convert');
  if (typeof o.out !== 'string') throw new UsageError('convert: --out <teacher.safetensors> is required');
  if (o.name !== undefined && String(o.name).trim() === '') throw new UsageError('convert: --name must not be empty');
  checkWritableOutputs([{ flag: '--out', path: o.out }], 'convert');
  const model = await readModelArg(input, { precond: precondOption(o.precond, 'convert') });
  const config = { ...model.config, ...(typeof o.name === 'string' ? { name: o.name } : {}) };
  writeFile(o.out, writeModelFile(config, model.tensors));
  const precond = config.precond?.type ?? 'edm';
  out(`wrote ${o.out}: ${config.role} "${config.name}", network ${config.network.type}, precond ${precond}, ${model.tensors.size} tensors`);
  return 0;
}

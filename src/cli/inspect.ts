/** `pid-studio inspect <model>`: validate and print a summary; a samples, noise or other tensor file is described. */
import { isLearnedNetwork, parameterCount } from '../core/nets';
import { describeNetwork } from '../formats/network-types';
import { precondOf } from '../core/precond';
import { type OptionKind, UsageError, parseOptions } from './args';
import { readModelArg } from './io';
import { precondOption } from './precond-option';
import { roleOption } from './role-option';
import { describeTensorFile, tensorFileKind } from './tensor-files';

export const INSPECT_OPTIONS = { precond: 'string', role: 'string' } as const satisfies Record<string, OptionKind>;

export async function inspect(argv: string[], out: (line: string) => void): Promise<number> {
  const [input, ...rest] = argv;
  if (!input || input.startsWith('--')) throw new UsageError('usage: pid-studio inspect <model | samples file | noise file> [--precond edm|vp|ve] [--role teacher|student]');
  const o = parseOptions(rest, INSPECT_OPTIONS, 'inspect');
  const tensorName = tensorFileKind(input);
  if (tensorName) {
    for (const line of describeTensorFile(input, tensorName)) out(line);
    return 0;
  }
  const model = await readModelArg(input, { precond: precondOption(o.precond, 'inspect'), role: roleOption(o.role, 'inspect') });
  const { config, origin } = model;
  const net = config.network;
  const readAs = config.role === 'student' ? 'a PID one-step student' : 'a teacher';
  const what = !origin ? `pid-studio ${config.role}`
    : origin.format === 'diffusers' ? 'diffusers UNet2DModel folder, read as a teacher'
    : origin.format === 'edm-snapshot' ? `EDM network snapshot (pickle; nothing in it run), read as ${readAs}`
    : `${origin.format === 'pytorch' ? 'PyTorch' : 'safetensors'} state dict, read as ${readAs}`;
  out(`${model.fileName}: valid ${what} "${config.name}"`);
  const taken = origin?.format === 'edm-snapshot' ? `EMA weights ('${origin.taken}')` : origin?.taken;
  if (origin) out(`  weights    ${taken}${origin.prefix ? `, key prefix '${origin.prefix}' stripped` : ''}`);
  const labels = config.data.label_dim ? `, label_dim ${config.data.label_dim} (class-conditional)` : ', label_dim 0 (unconditional)';
  out(`  data       shape [${config.data.shape.join(', ')}], range [${config.data.range.join(', ')}]${labels}`);
  out(`  edm        sigma_data ${config.edm.sigma_data}, sigma ${config.edm.sigma_min} .. ${config.edm.sigma_max}, rho ${config.edm.rho}`);
  const precond = config.precond ?? { type: 'edm' as const };
  const { type: precondType, ...precondParams } = precond;
  const assumed = origin && !origin.precondGiven ? ' (assumed: a state dict does not say; give --precond vp or ve for other models)'
    : origin?.schedulerDefaults ? " (no scheduler_config.json: DDPMScheduler's defaults)"
    : origin?.precondFrom ? ` (the snapshot's ${origin.precondFrom})` : '';
  out(`  precond    ${precondType}${Object.keys(precondParams).length ? ` ${JSON.stringify(precondParams)}` : ''}${assumed}`);
  const trained = precondOf(config).trainedRange;
  if (Number.isFinite(trained[1])) {
    out(`  trained on sigma ${trained[0].toPrecision(4)} .. ${trained[1].toPrecision(4)}: EDM's sampling range 0.002 .. 80 is clipped to it (sigma ${config.edm.sigma_min.toPrecision(4)} .. ${config.edm.sigma_max.toPrecision(4)})`);
  }
  if (net.type === 'gaussian-mixture') {
    out(`  network    ${net.type}, ${net.weights.length} components (analytic, exact denoiser)`);
  } else if (isLearnedNetwork(net)) {
    const { type, ...hyper } = net;
    out(`  network    ${describeNetwork(net)}: ${type} ${JSON.stringify(hyper)}`);
    out(`  parameters ${parameterCount(net, config.data.shape).toLocaleString('en-US')} in ${model.tensors.size} tensors`);
  }
  if (origin && config.role === 'student') {
    const { sigma_min: s, sigma_max: T } = config.edm;
    out(`  student    one step from sigma ${T} to ${s}: x = ${s / T} z + ${1 - s / T} F(c_in(${T}) z, c_noise(${s})) (the PID reference's OneShotDenoiser); the file does not record its teacher or training`);
  }
  if (config.student) {
    const { teacher, pid } = config.student;
    out(`  student    of "${teacher.name}" (sha256 ${teacher.sha256.slice(0, 12)}...), ${pid.steps} steps, N ${pid.N}, ${pid.loss}, ${pid.optimizer} lr ${pid.lr}, batch ${pid.batch}, ema ${pid.ema}, seed ${pid.seed}`);
  }
  out(`  sha256     ${model.sha256}`);
  return 0;
}

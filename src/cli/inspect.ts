/** `pid-studio inspect <model>`: validate and print a summary. */
import { isLearnedNetwork, parameterCount } from '../core/nets';
import { UsageError } from './args';
import { readModelArg } from './io';

export async function inspect(argv: string[], out: (line: string) => void): Promise<number> {
  if (argv.length !== 1 || argv[0].startsWith('--')) throw new UsageError('usage: pid-studio inspect <model>');
  const model = await readModelArg(argv[0]);
  const { config } = model;
  const net = config.network;
  out(`${model.fileName}: valid pid-studio ${config.role} "${config.name}"`);
  out(`  data       shape [${config.data.shape.join(', ')}], range [${config.data.range.join(', ')}]`);
  out(`  edm        sigma_data ${config.edm.sigma_data}, sigma ${config.edm.sigma_min} .. ${config.edm.sigma_max}, rho ${config.edm.rho}`);
  if (net.type === 'gaussian-mixture') {
    out(`  network    ${net.type}, ${net.weights.length} components (analytic, exact denoiser)`);
  } else if (isLearnedNetwork(net)) {
    const { type, ...hyper } = net;
    out(`  network    ${type} ${JSON.stringify(hyper)}, ${parameterCount(net, config.data.shape).toLocaleString('en-US')} parameters in ${model.tensors.size} tensors`);
  }
  if (config.student) {
    const { teacher, pid } = config.student;
    out(`  student    of "${teacher.name}" (sha256 ${teacher.sha256.slice(0, 12)}...), ${pid.steps} steps, N ${pid.N}, ${pid.loss}, ${pid.optimizer} lr ${pid.lr}, batch ${pid.batch}, ema ${pid.ema}, seed ${pid.seed}`);
  }
  out(`  sha256     ${model.sha256}`);
  return 0;
}

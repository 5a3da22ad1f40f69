/** `pid-studio sample`: a teacher solves its ODE (Heun or Euler), a student takes one step, from the same noise. */
import { Rng } from '../core/rng';
import type { SolverName } from '../core/samplers';
import { type OptionKind, UsageError, parseOptions } from './args';
import { startCliBackend } from './backend';
import { generate } from './generate';
import { readModelArg, readNoise, writeTensorFile } from './io';
import { labelsOption } from './labels-option';
import { checkWritableOutputs } from './output-paths';
import { precondOption } from './precond-option';
import { roleOption } from './role-option';

export const SAMPLE_OPTIONS = {
  model: 'string', n: 'integer', seed: 'integer', noise: 'string', out: 'string', solver: 'string', steps: 'integer', backend: 'string', labels: 'string', class: 'integer', precond: 'string', role: 'string',
} as const satisfies Record<string, OptionKind>;

export async function sample(argv: string[], out: (line: string) => void): Promise<number> {
  const o = parseOptions(argv, SAMPLE_OPTIONS, 'sample');
  if (typeof o.model !== 'string') throw new UsageError('sample: --model <model> is required');
  if (typeof o.out !== 'string') throw new UsageError('sample: --out <samples.safetensors> is required');
  if ((o.noise === undefined) === (o.n === undefined)) throw new UsageError('sample: give either --n K (with --seed S) or --noise <noise file>');
  const solver = (o.solver ?? 'heun') as SolverName;
  if (solver !== 'heun' && solver !== 'euler') throw new UsageError(`sample: --solver must be heun or euler (got '${solver}')`);
  const steps = (o.steps as number | undefined) ?? 18;
  if (steps < 2) throw new UsageError('sample: --steps must be at least 2');
  if (o.n !== undefined && (o.n as number) < 1) throw new UsageError('sample: --n must be at least 1');
  checkWritableOutputs([{ flag: '--out', path: o.out }], 'sample');

  const model = await readModelArg(o.model, { precond: precondOption(o.precond, 'sample'), role: roleOption(o.role, 'sample') });
  const { config } = model;
  const shape = config.data.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  const noise = typeof o.noise === 'string' ? readNoise(o.noise, shape) : { n: o.n as number, z: new Rng((o.seed as number) ?? 0).normals((o.n as number) * size) };
  const labels = labelsOption(o, config, noise.n, 'sample', 'every class in turn');
  const backend = await startCliBackend(o.backend);

  const start = performance.now();
  const { x, describe } = await generate(model, noise.z, noise.n, solver, steps, labels?.data);
  const from = typeof o.noise === 'string' ? `noise ${o.noise}` : `--n ${noise.n} --seed ${(o.seed as number | undefined) ?? 0}`;
  writeTensorFile(o.out, 'x', [noise.n, ...shape], x, `pid-studio sample from ${config.role} "${config.name}" (sha256 ${model.sha256.slice(0, 12)}...), ${describe}, ${from}`);
  out(`wrote ${o.out}: ${noise.n} samples of [${shape.join(', ')}]${labels ? ` (${labels.describe})` : ''}, ${describe}, ${((performance.now() - start) / 1000).toFixed(2)} s on ${backend}`);
  return 0;
}

/** The preconditioning a model's config names (absent: EDM's, so every older file keeps its meaning). */
import type { PidStudioConfig } from '../../formats/config';
import { ddpmEpsPreconditioning } from './ddpm-eps';
import { edmPreconditioning } from './edm';
import type { Precond } from './types';
import { vePreconditioning } from './ve';
import { vpPreconditioning } from './vp';

export type { Precond, PrecondCoefficients } from './types';
export { edmPreconditioning } from './edm';

export function precondOf(config: Pick<PidStudioConfig, 'edm' | 'precond'>): Precond {
  const p = config.precond;
  if (!p || p.type === 'edm') return edmPreconditioning(config.edm.sigma_data);
  if (p.type === 'vp') return vpPreconditioning(p);
  if (p.type === 'ddpm-eps') return ddpmEpsPreconditioning(p);
  return vePreconditioning(p);
}

/** A teacher's sampling range clipped to the noise levels its network was trained on (as EDM's generate.py). */
export function clippedSigmaRange(precond: Precond, sigmaMin: number, sigmaMax: number): [number, number] {
  return [Math.max(sigmaMin, precond.trainedRange[0]), Math.min(sigmaMax, precond.trainedRange[1])];
}

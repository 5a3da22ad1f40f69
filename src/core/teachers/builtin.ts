/**
 * The built-in teachers shipped in public/teachers/: analytic 2D mixtures (exact denoisers, no weights) and learned
 * MLP teachers trained by `npm run train-teacher`. index.json lists them; `default` is the one the studio opens with.
 */
import type { GaussianMixtureNetwork } from '../../formats/gaussian-mixture-network';
import type { RunSettings } from '../../formats/run-settings';

export interface BuiltinEntry {
  id: string;
  file: string;
  name: string;
  description: string;
  /** Settings that suit this teacher better than the preset's (a UNet wants a smaller batch and lr than an MLP). */
  recommended?: Partial<RunSettings>;
  /** A student distilled from this teacher in a long run, shipped in public/students/. */
  student?: BuiltinStudent;
}

export interface BuiltinStudent {
  /** File name in public/students/. */
  file: string;
  name: string;
  /** How it was made and how good it is (measured). */
  description: string;
}

export interface BuiltinIndex {
  default: string;
  teachers: BuiltinEntry[];
}

export const DEFAULT_TEACHER_ID = 'moons-mlp';

function ring(k: number, radius: number, std: number): GaussianMixtureNetwork {
  const means = Array.from({ length: k }, (_, i) => [radius * Math.cos((2 * Math.PI * i) / k), radius * Math.sin((2 * Math.PI * i) / k)]);
  return { type: 'gaussian-mixture', weights: new Array(k).fill(1 / k), means, stds: new Array(k).fill(std) };
}

function grid(n: number, extent: number, std: number): GaussianMixtureNetwork {
  const means: number[][] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) means.push([-extent + (2 * extent * i) / (n - 1), -extent + (2 * extent * j) / (n - 1)]);
  return { type: 'gaussian-mixture', weights: new Array(n * n).fill(1 / (n * n)), means, stds: new Array(n * n).fill(std) };
}

/** The analytic built-ins: id, display name, description, mixture. */
export const ANALYTIC_TEACHERS: { id: string; name: string; description: string; network: GaussianMixtureNetwork }[] = [
  { id: 'ring8', name: 'Ring of 8 Gaussians', description: '8 equal modes on a circle of radius 0.8, std 0.08 (exact denoiser)', network: ring(8, 0.8, 0.08) },
  { id: 'grid25', name: '5x5 grid of Gaussians', description: '25 equal modes on a grid in [-0.8, 0.8]^2, std 0.05 (exact denoiser)', network: grid(5, 0.8, 0.05) },
  {
    id: 'uneven3',
    name: 'Three uneven Gaussians',
    description: 'weights 0.6/0.3/0.1 with stds 0.25/0.1/0.05: unequal mass and width (exact denoiser)',
    network: { type: 'gaussian-mixture', weights: [0.6, 0.3, 0.1], means: [[-0.4, -0.3], [0.5, 0.4], [0.3, -0.6]], stds: [0.25, 0.1, 0.05] },
  },
  {
    id: 'gaussian',
    name: 'Single Gaussian N(0, 0.5^2 I)',
    description: 'data N(0, sigma_data^2 I): D(x, t) = c_skip(t) x and the ODE has the closed-form solution of pid-method.md §4',
    network: { type: 'gaussian-mixture', weights: [1], means: [[0, 0]], stds: [0.5] },
  },
];

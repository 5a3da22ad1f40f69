/**
 * From model files to working models and back: a teacher's denoiser, a student's one-step generator, a fresh
 * student for a teacher, and the student file (formats.md) a distillation writes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NetworkSpec, PidStudioConfig, StudentSection } from '../formats/config';
import { ModelFileError } from '../formats/errors';
import type { ModelFile } from '../formats/model-file';
import { writeModelFile } from '../formats/model-file';
import { type Denoiser, networkWithLabels, preconditionedDenoiser } from './edm';
import { type Precond, precondOf } from './precond';
import { analyticType } from './network-types';
import { DEFAULT_MLP, LEARNED_NETWORK_TYPES, type LearnedNetworkSpec, Network, initParams, isLearnedNetwork, tensorProblems } from './nets';
import { type HostTensor, fromParams } from './nets/params';
import { pidOneStep } from './student';
import type { Rng } from './rng';

export interface Teacher {
  config: PidStudioConfig;
  sha256: string;
  denoiser: Denoiser;
  /** The teacher's learned network; absent for analytic teachers. */
  network: Network | null;
  /** Host copy of the learned weights, to initialise a student of the same architecture. */
  weights: Map<string, HostTensor> | null;
  /** How the network is wrapped into the denoiser; a PID student keeps its c_in and c_noise. */
  precond: Precond;
  /** Classes of a class-conditional teacher (0: unconditional). */
  labelDim: number;
  dispose(): void;
}

export const dataSize = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Checks what the config alone cannot: a learned network's tensors against its type, an analytic teacher's lack
 * of tensors, a student's section. Throws ModelFileError naming the file; needs no backend.
 */
export function validateModel(model: ModelFile): void {
  const { config } = model;
  const net = config.network;
  if (!isLearnedNetwork(net)) {
    if (config.role === 'student') {
      throw new ModelFileError(model.fileName, `a student cannot have network type '${net.type}'`, `a student is a learned network (${LEARNED_NETWORK_TYPES.join(', ')})`);
    }
    if (model.tensors.size > 0) {
      const names = [...model.tensors.keys()].slice(0, 3).join(', ');
      throw new ModelFileError(model.fileName, `network type '${net.type}' is analytic and takes no tensors, but the file holds ${model.tensors.size} (${names})`, 'remove the tensors or fix network.type');
    }
    return;
  }
  const problems = tensorProblems(net, config.data.shape, model.tensors);
  if (problems.length) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    throw new ModelFileError(
      model.fileName,
      `${problems.slice(0, 3).join('; ')}${more} for network type '${net.type}'`,
      'the tensors must match network.* in the config (see README, network types)',
    );
  }
}

export function loadTeacher(model: ModelFile): Teacher {
  const { config } = model;
  if (config.role !== 'teacher') {
    throw new ModelFileError(model.fileName, `is a ${config.role}, not a teacher`, 'choose a teacher model file');
  }
  validateModel(model);
  const net = config.network;
  if (!isLearnedNetwork(net)) {
    const denoiser = analyticType(net).denoiser(net);
    return { config, sha256: model.sha256, denoiser, network: null, weights: null, precond: precondOf(config), labelDim: 0, dispose: () => denoiser.dispose() };
  }
  const weights: Map<string, HostTensor> = model.tensors;
  const network = new Network(net, config.data.shape, weights, false);
  const precond = precondOf(config);
  return {
    config,
    sha256: model.sha256,
    denoiser: preconditionedDenoiser(network.apply, precond),
    network,
    weights,
    precond,
    labelDim: config.data.label_dim ?? 0,
    dispose: () => network.dispose(),
  };
}

export interface Student {
  config: PidStudioConfig;
  network: Network;
  /** One-step generation x(z, sigma_min) for z ~ N(0, sigma_max^2 I); labels [n, label_dim] for a class-conditional student. */
  sample(z: tf.Tensor, labels?: tf.Tensor2D): tf.Tensor;
  dispose(): void;
}

export function loadStudent(model: ModelFile): Student {
  const { config } = model;
  // A bare network read with role 'student' (model-import.ts: the PID reference's students) has no student section.
  if (config.role !== 'student' || (!config.student && !model.origin)) {
    throw new ModelFileError(model.fileName, `is a ${config.role}, not a student`, 'choose a distilled student file');
  }
  validateModel(model);
  const net = config.network as LearnedNetworkSpec;
  const network = new Network(net, config.data.shape, model.tensors, false);
  return {
    config,
    network,
    sample: (z, labels) => pidOneStep(networkWithLabels(network.apply, labels), config.edm, z, precondOf(config)),
    dispose: () => network.dispose(),
  };
}

/** The student's default architecture for a teacher without weights: the MLP defaults (README, network types). */
export function defaultStudentSpec(teacher: PidStudioConfig): LearnedNetworkSpec {
  return isLearnedNetwork(teacher.network) ? teacher.network : DEFAULT_MLP;
}

/**
 * A trainable student F_theta. It starts from the teacher's weights when the architecture matches (§2), else
 * from a fresh initialisation of `spec`.
 */
export function createStudentNetwork(teacher: Teacher, spec: LearnedNetworkSpec | undefined, rng: Rng, initial?: Map<string, HostTensor>): { network: Network; fromTeacher: boolean } {
  const chosen = spec ?? defaultStudentSpec(teacher.config);
  const shape = teacher.config.data.shape;
  const same = teacher.weights !== null && JSON.stringify(chosen) === JSON.stringify(teacher.config.network);
  const host = initial ?? (same ? teacher.weights! : initParams(chosen, shape, rng));
  return { network: new Network(chosen, shape, host, true), fromTeacher: same };
}

export function studentConfig(teacher: PidStudioConfig, teacherSha256: string, network: NetworkSpec, pid: StudentSection['pid'], name?: string): PidStudioConfig {
  return {
    format: 'pid-studio/1',
    role: 'student',
    name: name ?? `${teacher.name} (PID student)`,
    data: teacher.data,
    edm: teacher.edm,
    network,
    ...(teacher.precond ? { precond: teacher.precond } : {}),
    ...(teacher.pytorch && JSON.stringify(network) === JSON.stringify(teacher.network) ? { pytorch: teacher.pytorch } : {}),
    student: { parametrization: 'pid', teacher: { name: teacher.name, sha256: teacherSha256 }, pid },
  };
}

/** The weights on the host; refused when any is not finite (a student file never holds NaN). */
export async function finiteWeights(params: Map<string, tf.Tensor>): Promise<Map<string, HostTensor>> {
  const host = await fromParams(params);
  for (const [name, t] of host) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`student weight '${name}' is not finite at index ${bad}: the run diverged, nothing was written`);
  }
  return host;
}

/** Writes a student file (finite weights only). */
export async function studentFileBytes(config: PidStudioConfig, params: Map<string, tf.Tensor>): Promise<Uint8Array> {
  return writeModelFile(config, await finiteWeights(params));
}

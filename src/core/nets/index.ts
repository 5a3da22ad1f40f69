/** The learned network types, behind one interface: shapes of their tensors, a fresh init, and the forward pass. */
import * as tf from '@tensorflow/tfjs-core';
import type { NetworkFn } from '../edm';
import type { Rng } from '../rng';
import { DEFAULT_MLP, type MlpSpec, mlpForward, mlpInit, mlpParamShapes } from './mlp';
import { type HostTensor, type ParamShapes, type Params, countParams, toParams } from './params';
import { DEFAULT_UNET, type UnetSpec, unetForward, unetInit, unetParamShapes } from './unet';
import { type EdmSongUnetSpec, edmSongUnetBuffers, edmSongUnetForward, edmSongUnetInit, edmSongUnetParamShapes } from './edm-songunet';
import { type EdmDhariwalUnetSpec, edmDhariwalUnetBuffers, edmDhariwalUnetForward, edmDhariwalUnetInit, edmDhariwalUnetParamShapes } from './edm-dhariwalunet';
import { type DiffusersUnet2dSpec, diffusersUnet2dBuffers, diffusersUnet2dForward, diffusersUnet2dInit, diffusersUnet2dParamShapes } from './diffusers-unet2d';

export type LearnedNetworkSpec = MlpSpec | UnetSpec | EdmSongUnetSpec | EdmDhariwalUnetSpec | DiffusersUnet2dSpec;

/** What a network type provides. Tensor names and layouts are PyTorch's (state-dict names of the original module). */
export interface NetworkKind<S> {
  /** Every tensor of the state dict, buffers included. */
  paramShapes(spec: S, dataShape: number[]): ParamShapes;
  /** A fresh set of weights (buffers with their fixed values). */
  init(spec: S, dataShape: number[], rng: Rng): Map<string, HostTensor>;
  /** Names of the tensors that are fixed buffers (resampling filters, Fourier frequencies): never trained. */
  buffers?(spec: S, dataShape: number[]): string[];
  /** F(x_in, c_noise[, labels]): x_in [B, ...dataShape] HWC, cNoise [B], labels [B, label_dim] when label_dim > 0. */
  forward(spec: S, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D, labels?: tf.Tensor2D): tf.Tensor;
}

const kinds: { [T in LearnedNetworkSpec['type']]: NetworkKind<Extract<LearnedNetworkSpec, { type: T }>> } = {
  mlp: { paramShapes: mlpParamShapes, init: mlpInit, forward: mlpForward },
  unet: { paramShapes: unetParamShapes, init: unetInit, forward: unetForward },
  'edm-songunet': { paramShapes: edmSongUnetParamShapes, init: edmSongUnetInit, buffers: edmSongUnetBuffers, forward: edmSongUnetForward },
  'edm-dhariwalunet': { paramShapes: edmDhariwalUnetParamShapes, init: edmDhariwalUnetInit, buffers: edmDhariwalUnetBuffers, forward: edmDhariwalUnetForward },
  'diffusers-unet2d': { paramShapes: diffusersUnet2dParamShapes, init: diffusersUnet2dInit, buffers: diffusersUnet2dBuffers, forward: diffusersUnet2dForward },
};

export const LEARNED_NETWORK_TYPES = Object.keys(kinds) as LearnedNetworkSpec['type'][];
export { DEFAULT_MLP, DEFAULT_UNET };

export function isLearnedNetwork(spec: { type: string }): spec is LearnedNetworkSpec {
  return (LEARNED_NETWORK_TYPES as string[]).includes(spec.type);
}

const kindOf = (spec: LearnedNetworkSpec) => kinds[spec.type] as NetworkKind<LearnedNetworkSpec>;

export function paramShapes(spec: LearnedNetworkSpec, dataShape: number[]): ParamShapes {
  return kindOf(spec).paramShapes(spec, dataShape);
}

export function parameterCount(spec: LearnedNetworkSpec, dataShape: number[]): number {
  return countParams(paramShapes(spec, dataShape));
}

/** The tensors of a network type that are fixed buffers, not trained. */
export function bufferNames(spec: LearnedNetworkSpec, dataShape: number[]): string[] {
  return kindOf(spec).buffers?.(spec, dataShape) ?? [];
}

export function initParams(spec: LearnedNetworkSpec, dataShape: number[], rng: Rng): Map<string, HostTensor> {
  return kindOf(spec).init(spec, dataShape, rng);
}

/**
 * Checks tensors read from a file against what the network type expects; returns a list of problems
 * (empty when they match) for the caller to report against its file.
 */
export function tensorProblems(spec: LearnedNetworkSpec, dataShape: number[], tensors: Map<string, { shape: number[] }>): string[] {
  const problems: string[] = [];
  const expected = new Map(paramShapes(spec, dataShape));
  for (const [name, shape] of expected) {
    const got = tensors.get(name);
    if (!got) problems.push(`missing tensor '${name}' (shape [${shape}])`);
    else if (got.shape.join(',') !== shape.join(',')) problems.push(`tensor '${name}' has shape [${got.shape}], expected [${shape}]`);
  }
  for (const name of tensors.keys()) if (!expected.has(name)) problems.push(`unexpected tensor '${name}'`);
  return problems;
}

/** A network with its parameters on the backend: constants for a teacher, trainable variables for a student. */
export class Network {
  readonly params: Params;

  constructor(readonly spec: LearnedNetworkSpec, readonly dataShape: number[], host: Map<string, HostTensor>, trainable: boolean) {
    const fixed = new Set(bufferNames(spec, dataShape));
    const learned = toParams(new Map([...host].filter(([name]) => !fixed.has(name))), trainable);
    const buffers = toParams(new Map([...host].filter(([name]) => fixed.has(name))), false);
    this.params = new Map([...host.keys()].map((name) => [name, (learned.get(name) ?? buffers.get(name))!])); // the file's order
  }

  /** F(x_in, c_noise). */
  readonly apply: NetworkFn = (xIn, cNoise, labels) => kindOf(this.spec).forward(this.spec, this.params, xIn, cNoise, labels);

  /** The same architecture with other weights of the same names and shapes (e.g. the EMA); buffers are this network's. */
  withWeights(weights: Params): NetworkFn {
    const all: Params = new Map([...this.params, ...weights]);
    return (xIn, cNoise, labels) => kindOf(this.spec).forward(this.spec, all, xIn, cNoise, labels);
  }

  get parameterCount(): number {
    return parameterCount(this.spec, this.dataShape);
  }

  dispose(): void {
    tf.dispose([...this.params.values()]);
  }
}

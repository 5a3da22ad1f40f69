/** A learned network: its tensors' shapes, a fresh init and the forward pass, read from its type's record (../network-types.ts). */
import * as tf from '@tensorflow/tfjs-core';
import { type LearnedNetworkSpec, learnedType } from '../network-types';
import type { NetworkFn } from '../edm';
import type { Rng } from '../rng';
import { markBoxFilters } from './box-filter';
import { DEFAULT_MLP } from './mlp';
import { type HostTensor, type ParamShapes, type Params, countParams, toParams } from './params';
import { DEFAULT_UNET } from './unet';
import { keepFrozenFilters, releaseFrozenFilters, webgpuLayersOn } from './webgpu-layers';

export { LEARNED_NETWORK_TYPES, type LearnedNetworkSpec, isLearnedNetwork } from '../network-types';
export { DEFAULT_MLP, DEFAULT_UNET };

export function paramShapes(spec: LearnedNetworkSpec, dataShape: number[]): ParamShapes {
  return learnedType(spec).paramShapes(spec, dataShape);
}

export function parameterCount(spec: LearnedNetworkSpec, dataShape: number[]): number {
  return countParams(paramShapes(spec, dataShape));
}

/** The tensors of a network type that are fixed buffers, not trained. */
export function bufferNames(spec: LearnedNetworkSpec, dataShape: number[]): string[] {
  return learnedType(spec).buffers?.(spec, dataShape) ?? [];
}

export function initParams(spec: LearnedNetworkSpec, dataShape: number[], rng: Rng): Map<string, HostTensor> {
  return learnedType(spec).init(spec, dataShape, rng);
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
    markBoxFilters(this.params, host);
    if (!trainable && webgpuLayersOn()) keepFrozenFilters(this.params, learned.keys()); // a teacher's convs transpose nothing
  }

  /** F(x_in, c_noise). */
  readonly apply: NetworkFn = (xIn, cNoise, labels) => learnedType(this.spec).forward(this.spec, this.params, xIn, cNoise, labels);

  /** The same architecture with other weights of the same names and shapes (e.g. the EMA); buffers are this network's. */
  withWeights(weights: Params): NetworkFn {
    const all: Params = new Map([...this.params, ...weights]);
    return (xIn, cNoise, labels) => learnedType(this.spec).forward(this.spec, all, xIn, cNoise, labels);
  }

  get parameterCount(): number {
    return parameterCount(this.spec, this.dataShape);
  }

  dispose(): void {
    releaseFrozenFilters(this.params);
    tf.dispose([...this.params.values()]);
  }
}

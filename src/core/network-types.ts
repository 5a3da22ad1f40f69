/**
 * Every network type in one place: its formats record (config parser, label, exports: src/formats/network-types.ts)
 * extended with what the core does with it. A learned type has tensors: their shapes (PyTorch's state-dict names and
 * layouts), a fresh init, its fixed buffers and the forward pass. An analytic type has none and gives its exact
 * denoiser. The model loader, the network class and the exporters read it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { NETWORK_FORMATS, type NetworkFormat, type NetworkSpec } from '../formats/network-types';
import type { Denoiser } from './edm';
import type { Rng } from './rng';
import { type DiffusersUnet2dSpec, diffusersUnet2dBuffers, diffusersUnet2dForward, diffusersUnet2dInit, diffusersUnet2dParamShapes } from './nets/diffusers-unet2d';
import { type EdmDhariwalUnetSpec, edmDhariwalUnetBuffers, edmDhariwalUnetForward, edmDhariwalUnetInit, edmDhariwalUnetParamShapes } from './nets/edm-dhariwalunet';
import { type EdmSongUnetSpec, edmSongUnetBuffers, edmSongUnetForward, edmSongUnetInit, edmSongUnetParamShapes } from './nets/edm-songunet';
import { type MlpSpec, mlpForward, mlpInit, mlpParamShapes } from './nets/mlp';
import type { HostTensor, ParamShapes, Params } from './nets/params';
import { type UnetSpec, unetForward, unetInit, unetParamShapes } from './nets/unet';
import { GaussianMixtureDenoiser } from './teachers/gaussian-mixture';

export type LearnedNetworkSpec = MlpSpec | UnetSpec | EdmSongUnetSpec | EdmDhariwalUnetSpec | DiffusersUnet2dSpec;
export type AnalyticNetworkSpec = Exclude<NetworkSpec, LearnedNetworkSpec>;

export interface LearnedNetworkType<S extends NetworkSpec> extends NetworkFormat<S> {
  /** Every tensor of the state dict, buffers included. */
  paramShapes(spec: S, dataShape: number[]): ParamShapes;
  /** A fresh set of weights (buffers with their fixed values). */
  init(spec: S, dataShape: number[], rng: Rng): Map<string, HostTensor>;
  /** Names of the tensors that are fixed buffers (resampling filters, Fourier frequencies): never trained. */
  buffers?(spec: S, dataShape: number[]): string[];
  /** F(x_in, c_noise[, labels]): x_in [B, ...dataShape] HWC, cNoise [B], labels [B, label_dim] when label_dim > 0. */
  forward(spec: S, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D, labels?: tf.Tensor2D): tf.Tensor;
}

export interface AnalyticNetworkType<S extends NetworkSpec> extends NetworkFormat<S> {
  /** The exact denoiser D(x, sigma) of the spec; its file holds no tensors. */
  denoiser(spec: S): Denoiser & { dispose(): void };
}

type SpecOf<K extends NetworkSpec['type']> = Extract<NetworkSpec, { type: K }>;

export const NETWORKS: {
  [K in NetworkSpec['type']]: SpecOf<K> extends LearnedNetworkSpec ? LearnedNetworkType<SpecOf<K>> : AnalyticNetworkType<SpecOf<K>>
} = {
  'gaussian-mixture': { ...NETWORK_FORMATS['gaussian-mixture'], denoiser: (spec) => new GaussianMixtureDenoiser(spec) },
  mlp: { ...NETWORK_FORMATS.mlp, paramShapes: mlpParamShapes, init: mlpInit, forward: mlpForward },
  unet: { ...NETWORK_FORMATS.unet, paramShapes: unetParamShapes, init: unetInit, forward: unetForward },
  'edm-songunet': {
    ...NETWORK_FORMATS['edm-songunet'], paramShapes: edmSongUnetParamShapes, init: edmSongUnetInit, buffers: edmSongUnetBuffers, forward: edmSongUnetForward,
  },
  'edm-dhariwalunet': {
    ...NETWORK_FORMATS['edm-dhariwalunet'], paramShapes: edmDhariwalUnetParamShapes, init: edmDhariwalUnetInit, buffers: edmDhariwalUnetBuffers, forward: edmDhariwalUnetForward,
  },
  'diffusers-unet2d': {
    ...NETWORK_FORMATS['diffusers-unet2d'], paramShapes: diffusersUnet2dParamShapes, init: diffusersUnet2dInit, buffers: diffusersUnet2dBuffers, forward: diffusersUnet2dForward,
  },
};

export const LEARNED_NETWORK_TYPES = (Object.keys(NETWORKS) as NetworkSpec['type'][]).filter((t) => 'forward' in NETWORKS[t]) as LearnedNetworkSpec['type'][];

export function isLearnedNetwork(spec: { type: string }): spec is LearnedNetworkSpec {
  return (LEARNED_NETWORK_TYPES as string[]).includes(spec.type);
}

export const learnedType = (spec: LearnedNetworkSpec) => NETWORKS[spec.type] as LearnedNetworkType<LearnedNetworkSpec>;

export const analyticType = (spec: AnalyticNetworkSpec) => NETWORKS[spec.type] as AnalyticNetworkType<AnalyticNetworkSpec>;

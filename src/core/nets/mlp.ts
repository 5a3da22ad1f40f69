/**
 * The `mlp` network type: F(x_in, c_noise) for low-dimensional data (2D points), EDM-style conditioning.
 *
 *   emb   = [cos(2π f_k c_noise), sin(2π f_k c_noise)],  f_k = emb_max_freq^(k / (emb_dim/2 - 1))
 *   e     = silu(map_layer1(silu(map_layer0(emb))))                         noise-level embedding [B, hidden]
 *   h     = input(x_in)                                                      [B, hidden]
 *   h     = h + blocks.i.fc1(silu(blocks.i.fc0(silu(h)) + blocks.i.emb(e)))  for i < blocks (residual)
 *   F     = out(silu(h))                                                     [B, D]
 *
 * Tensors (PyTorch nn.Linear layout, weight [out, in]): map_layer0.{weight,bias} [hidden, emb_dim],
 * map_layer1 [hidden, hidden], input [hidden, D], blocks.i.fc0 / .emb / .fc1 [hidden, hidden], out [D, hidden].
 * blocks.i.fc1 and out start at zero (EDM's init_zero), so a fresh network is F = 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MLP_DEFAULTS, type MlpNetwork } from '../../formats/mlp-network';
import type { Rng } from '../rng';
import { cosSinFeatures, linear, residualAdd, silu } from './layers';
import { type HostTensor, type ParamShapes, type Params, linearInit } from './params';

export type MlpSpec = MlpNetwork;

export const DEFAULT_MLP: MlpSpec = { type: 'mlp', ...MLP_DEFAULTS };

const layers = (spec: MlpSpec, dim: number): [name: string, out: number, inp: number, zero: boolean][] => {
  const h = spec.hidden;
  const list: [string, number, number, boolean][] = [
    ['map_layer0', h, spec.emb_dim, false],
    ['map_layer1', h, h, false],
    ['input', h, dim, false],
  ];
  for (let i = 0; i < spec.blocks; i++) {
    list.push([`blocks.${i}.fc0`, h, h, false], [`blocks.${i}.emb`, h, h, false], [`blocks.${i}.fc1`, h, h, true]);
  }
  list.push(['out', dim, h, true]);
  return list;
};

export function mlpParamShapes(spec: MlpSpec, dataShape: number[]): ParamShapes {
  const dim = dataShape.reduce((a, b) => a * b, 1);
  return layers(spec, dim).flatMap(([name, out, inp]): ParamShapes => [
    [`${name}.weight`, [out, inp]],
    [`${name}.bias`, [out]],
  ]);
}

export function mlpInit(spec: MlpSpec, dataShape: number[], rng: Rng): Map<string, HostTensor> {
  const dim = dataShape.reduce((a, b) => a * b, 1);
  const out = new Map<string, HostTensor>();
  for (const [name, o, i, zero] of layers(spec, dim)) {
    out.set(`${name}.weight`, linearInit([o, i], i, rng, zero));
    out.set(`${name}.bias`, linearInit([o], i, rng, zero));
  }
  return out;
}

/** Fourier features of c_noise, [B, emb_dim]. */
export function noiseEmbedding(cNoise: tf.Tensor1D, embDim: number, maxFreq: number): tf.Tensor2D {
  return tf.tidy(() => {
    const half = embDim / 2;
    const freqs = Array.from({ length: half }, (_, k) => 2 * Math.PI * maxFreq ** (half > 1 ? k / (half - 1) : 0));
    return cosSinFeatures(cNoise, tf.tensor2d(freqs, [1, half]));
  });
}

export function mlpForward(spec: MlpSpec, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const batch = xIn.shape[0];
    const x = tf.reshape(xIn, [batch, -1]) as tf.Tensor2D;
    const emb = noiseEmbedding(cNoise, spec.emb_dim, spec.emb_max_freq);
    const e = silu(linear(params, 'map_layer1', silu(linear(params, 'map_layer0', emb)) as tf.Tensor2D)) as tf.Tensor2D;
    let h = linear(params, 'input', x);
    for (let i = 0; i < spec.blocks; i++) {
      const inner = residualAdd(linear(params, `blocks.${i}.fc0`, silu(h) as tf.Tensor2D), linear(params, `blocks.${i}.emb`, e));
      h = residualAdd(h, linear(params, `blocks.${i}.fc1`, silu(inner) as tf.Tensor2D));
    }
    return tf.reshape(linear(params, 'out', silu(h) as tf.Tensor2D), xIn.shape);
  });
}

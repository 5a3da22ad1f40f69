/**
 * The `edm-songunet` network type: NVlabs/edm's SongUNet (training/networks.py), the DDPM++ and NCSN++
 * architectures of Song et al., with every option EDM's train.py uses. F(x_in, c_noise, class_labels) is EDM's
 * SongUNet.forward(x, noise_labels, class_labels, augment_labels=None) on NHWC tensors:
 *
 *   emb = swap(map_noise(c_noise))              positional [cos | sin] (endpoint, 10000) or Fourier (freqs buffer),
 *                                               then the halves swapped to [sin | cos]
 *   emb = emb + map_label(labels sqrt(label_dim))                             label_dim > 0
 *   emb = silu(map_layer1(silu(map_layer0(emb))))
 *   encoder: enc.RxR_conv, per level below the first a _down block (filtered down-sampling), then the
 *     'skip' encoder's aux_down / aux_skip (x += aux_skip(aux)) or the 'residual' encoder's aux_residual
 *     (x = aux = (x + aux_residual(aux)) / sqrt(2), a fused 3x3 conv + down-sampling); the blocks
 *   decoder: in0 (always attention) and in1 at the lowest level, _up blocks above; num_blocks + 1 blocks per level
 *     on the concatenated skips (attention in the last one at attn_resolutions); the output is the sum of
 *     aux_conv(silu(aux_norm(x))) (decoder 'standard': level 0 only; 'skip': every level, aux_up between)
 *
 * Blocks: UNetBlock with adaptive_scale=False, skip_scale sqrt(0.5), GroupNorm eps 1e-6, one attention head,
 * resample_proj (a 1x1 conv on the resampled skip). No dropout; map_augment's weight is in the tensors, its input
 * (augmentation labels) is absent. Tensor names and layouts are SongUNet's state dict, resample_filter and
 * map_noise.freqs included (fixed buffers).
 */
import * as tf from '@tensorflow/tfjs-core';
import { EDM_SONGUNET_DEFAULTS, type EdmModule, type EdmPlan, type EdmSongUnetNetwork, songUnetPlan } from '../../formats/edm-networks';
import type { Rng } from '../rng';
import { edmBlock, edmConv2d, edmGroupNormSilu, fourierEmbedding, linear, positionalEmbedding, silu, swapHalves } from './layers';
import type { HostTensor, ParamShapes, Params } from './params';

export type EdmSongUnetSpec = EdmSongUnetNetwork;

export const DEFAULT_EDM_SONGUNET: EdmSongUnetSpec = {
  type: 'edm-songunet', img_resolution: 32, in_channels: 3, out_channels: 3, ...EDM_SONGUNET_DEFAULTS,
  channel_mult: [...EDM_SONGUNET_DEFAULTS.channel_mult], attn_resolutions: [...EDM_SONGUNET_DEFAULTS.attn_resolutions],
  resample_filter: [...EDM_SONGUNET_DEFAULTS.resample_filter],
};

// ---------------------------------------------------------------------------------------------------------------
// Tensors of a plan, shared with edm-dhariwalunet

/** How EDM initialises a tensor (networks.py weight_init and the init / init_zero / init_attn dicts). */
export type EdmInit =
  | { kind: 'xavier_uniform' | 'kaiming_uniform' | 'kaiming_normal'; fanIn: number; fanOut: number; gain: number }
  | { kind: 'ones' | 'zeros' | 'filter' | 'fourier' };

export interface EdmTensor { name: string; shape: number[]; init: EdmInit }

/** What init a layer gets: its role ('init', 'zero' = init_zero, 'attn' = init_attn) to a weight and bias init. */
export type EdmInitRule = (role: 'init' | 'zero' | 'attn', fanIn: number, fanOut: number) => { weight: EdmInit; bias: EdmInit };

/** The tensors of an EDM Conv2d / Linear / GroupNorm / UNetBlock in state-dict order. */
export class EdmTensors {
  readonly list: EdmTensor[] = [];
  constructor(readonly rule: EdmInitRule, readonly filterLength: number) {}

  linear(name: string, out: number, inp: number, role: 'init' | 'zero' | 'attn' = 'init', bias = true): void {
    const { weight, bias: b } = this.rule(role, inp, out);
    this.list.push({ name: `${name}.weight`, shape: [out, inp], init: weight });
    if (bias) this.list.push({ name: `${name}.bias`, shape: [out], init: b });
  }

  conv(name: string, c: { inC: number; outC: number; kernel: number; up: boolean; down: boolean }, role: 'init' | 'zero' | 'attn' = 'init'): void {
    const k = c.kernel;
    if (k > 0) {
      const { weight, bias } = this.rule(role, c.inC * k * k, c.outC * k * k);
      this.list.push({ name: `${name}.weight`, shape: [c.outC, c.inC, k, k], init: weight }, { name: `${name}.bias`, shape: [c.outC], init: bias });
    }
    if (c.up || c.down) this.list.push({ name: `${name}.resample_filter`, shape: [1, 1, this.filterLength, this.filterLength], init: { kind: 'filter' } });
  }

  norm(name: string, channels: number): void {
    this.list.push({ name: `${name}.weight`, shape: [channels], init: { kind: 'ones' } }, { name: `${name}.bias`, shape: [channels], init: { kind: 'zeros' } });
  }

  module(m: EdmModule, embChannels: number): void {
    if (m.role === 'aux_norm' || m.role === 'out_norm') return this.norm(m.name, m.channels);
    if ('conv' in m) return this.conv(m.name, m.conv, m.role === 'aux_conv' || m.role === 'out_conv' ? 'zero' : 'init');
    if (m.role !== 'block') return;
    const b = m.block;
    this.norm(`${m.name}.norm0`, b.inC);
    this.conv(`${m.name}.conv0`, { inC: b.inC, outC: b.outC, kernel: 3, up: b.up, down: b.down });
    this.linear(`${m.name}.affine`, b.outC * (b.adaptive ? 2 : 1), embChannels);
    this.norm(`${m.name}.norm1`, b.outC);
    this.conv(`${m.name}.conv1`, { inC: b.outC, outC: b.outC, kernel: 3, up: false, down: false }, 'zero');
    if (b.skip) this.conv(`${m.name}.skip`, b.skip);
    if (b.heads > 0) {
      this.norm(`${m.name}.norm2`, b.outC);
      this.conv(`${m.name}.qkv`, { inC: b.outC, outC: 3 * b.outC, kernel: 1, up: false, down: false }, 'attn');
      this.conv(`${m.name}.proj`, { inC: b.outC, outC: b.outC, kernel: 1, up: false, down: false }, 'zero');
    }
  }

  modules(plan: EdmPlan): this {
    for (const m of [...plan.enc, ...plan.dec, ...plan.out]) this.module(m, plan.embChannels);
    return this;
  }

  get shapes(): ParamShapes {
    return this.list.map(({ name, shape }) => [name, shape]);
  }
}

/** EDM's resample_filter buffer: f f^T / (sum f)^2, [1, 1, n, n]. */
export function resampleFilterBuffer(f: number[]): Float32Array<ArrayBuffer> {
  const s = f.reduce((a, b) => a + b, 0);
  return Float32Array.from(f.flatMap((a) => f.map((b) => (a * b) / (s * s))));
}

/** Fresh values by EDM's inits (the distributions of networks.py weight_init; not its random stream). */
export function edmInitValues(tensors: EdmTensor[], rng: Rng, filter: number[], fourierScale = 16): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const { name, shape, init } of tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array = new Float32Array(size);
    switch (init.kind) {
      case 'ones': data.fill(1); break;
      case 'zeros': break;
      case 'filter': data = resampleFilterBuffer(filter); break;
      case 'fourier': for (let i = 0; i < size; i++) data[i] = rng.normal() * fourierScale; break;
      case 'xavier_uniform': {
        const bound = Math.sqrt(6 / (init.fanIn + init.fanOut)) * init.gain;
        if (bound !== 0) for (let i = 0; i < size; i++) data[i] = (2 * rng.uniform() - 1) * bound;
        break;
      }
      case 'kaiming_uniform': {
        const bound = Math.sqrt(3 / init.fanIn) * init.gain;
        if (bound !== 0) for (let i = 0; i < size; i++) data[i] = (2 * rng.uniform() - 1) * bound;
        break;
      }
      case 'kaiming_normal': {
        const std = Math.sqrt(1 / init.fanIn) * init.gain;
        if (std !== 0) for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
        break;
      }
    }
    out.set(name, { shape, data });
  }
  return out;
}

/** Throws unless labels [B, label_dim] are given for a class-conditional network. */
export function requireLabels(labelDim: number, batch: number, labels: tf.Tensor2D | undefined, what: string): tf.Tensor2D {
  if (!labels) throw new Error(`${what} is class-conditional (label_dim ${labelDim}): it needs class labels [B, ${labelDim}]`);
  if (labels.shape[0] !== batch || labels.shape[1] !== labelDim) {
    throw new Error(`${what} needs class labels of shape [${batch}, ${labelDim}], got [${labels.shape}]`);
  }
  return labels;
}

// ---------------------------------------------------------------------------------------------------------------
// SongUNet

const songInit: EdmInitRule = (role, fanIn, fanOut) => ({
  weight: { kind: 'xavier_uniform', fanIn, fanOut, gain: role === 'zero' ? 1e-5 : role === 'attn' ? Math.sqrt(0.2) : 1 },
  bias: { kind: 'zeros' },
});

function songTensors(spec: EdmSongUnetSpec): EdmTensors {
  const plan = songUnetPlan(spec);
  const t = new EdmTensors(songInit, spec.resample_filter.length);
  if (spec.embedding_type === 'fourier') t.list.push({ name: 'map_noise.freqs', shape: [plan.noiseChannels / 2], init: { kind: 'fourier' } });
  if (spec.label_dim) t.linear('map_label', plan.noiseChannels, spec.label_dim);
  if (spec.augment_dim) t.linear('map_augment', plan.noiseChannels, spec.augment_dim, 'init', false);
  t.linear('map_layer0', plan.embChannels, plan.noiseChannels);
  t.linear('map_layer1', plan.embChannels, plan.embChannels);
  return t.modules(plan);
}

export function checkData(spec: { img_resolution: number; in_channels: number; out_channels: number }, dataShape: number[], type: string): void {
  const want = [spec.img_resolution, spec.img_resolution, spec.in_channels];
  if (dataShape.join(',') !== want.join(',') || spec.out_channels !== spec.in_channels) {
    throw new Error(`${type}: data shape [${dataShape}] does not match img_resolution ${spec.img_resolution}, in_channels ${spec.in_channels}, out_channels ${spec.out_channels}`);
  }
}

export function edmSongUnetParamShapes(spec: EdmSongUnetSpec, dataShape: number[]): ParamShapes {
  checkData(spec, dataShape, 'edm-songunet');
  return songTensors(spec).shapes;
}

export function edmSongUnetBuffers(spec: EdmSongUnetSpec): string[] {
  return songTensors(spec).list.filter((t) => t.init.kind === 'filter' || t.init.kind === 'fourier').map((t) => t.name);
}

/** EDM's init: xavier_uniform, zero biases, init_zero layers (conv1, proj, aux_conv) at 1e-5, qkv at sqrt(0.2). */
export function edmSongUnetInit(spec: EdmSongUnetSpec, dataShape: number[], rng: Rng): Map<string, HostTensor> {
  checkData(spec, dataShape, 'edm-songunet');
  return edmInitValues(songTensors(spec).list, rng, spec.resample_filter);
}

/** The noise embedding of SongUNet, [B, emb_channels]. */
function songEmbedding(spec: EdmSongUnetSpec, params: Params, noiseChannels: number, cNoise: tf.Tensor1D, labels?: tf.Tensor2D): tf.Tensor2D {
  let emb = spec.embedding_type === 'fourier'
    ? fourierEmbedding(cNoise, params.get('map_noise.freqs')!)
    : positionalEmbedding(cNoise, noiseChannels, 10000, true);
  emb = swapHalves(emb);
  if (spec.label_dim) {
    const l = requireLabels(spec.label_dim, cNoise.shape[0], labels, 'this edm-songunet');
    emb = tf.add(emb, linear(params, 'map_label', tf.mul(l, Math.sqrt(spec.label_dim))));
  }
  emb = silu(linear(params, 'map_layer0', emb)) as tf.Tensor2D;
  return silu(linear(params, 'map_layer1', emb)) as tf.Tensor2D;
}

export function edmSongUnetForward(spec: EdmSongUnetSpec, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D, labels?: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const plan = songUnetPlan(spec);
    const emb = songEmbedding(spec, params, plan.noiseChannels, cNoise, labels);
    let x = xIn as tf.Tensor4D;
    let aux: tf.Tensor4D | null = x;
    const skips: tf.Tensor4D[] = [];
    for (const m of plan.enc) {
      if (m.role === 'aux_down') aux = edmConv2d(params, m.name, aux!, { down: true });
      else if (m.role === 'aux_skip') x = skips[skips.length - 1] = tf.add(x, edmConv2d(params, m.name, aux!));
      else if (m.role === 'aux_residual') {
        x = skips[skips.length - 1] = aux = tf.div(tf.add(x, edmConv2d(params, m.name, aux!, { down: true, fused: true })), Math.SQRT2);
      } else if (m.role === 'block') skips.push((x = edmBlock(params, m.name, m.block, x, emb)));
      else if (m.role === 'conv') skips.push((x = edmConv2d(params, m.name, x)));
    }
    aux = null;
    let tmp: tf.Tensor4D | null = null;
    for (const m of plan.dec) {
      if (m.role === 'aux_up') aux = edmConv2d(params, m.name, aux!, { up: true });
      else if (m.role === 'aux_norm') tmp = edmGroupNormSilu(params, m.name, x, m.eps);
      else if (m.role === 'aux_conv') {
        tmp = edmConv2d(params, m.name, tmp!);
        aux = aux ? tf.add(tmp, aux) : tmp;
      } else if (m.role === 'block') {
        if (x.shape[3] !== m.block.inC) x = tf.concat([x, skips.pop()!], 3);
        x = edmBlock(params, m.name, m.block, x, emb);
      }
    }
    return aux!;
  });
}

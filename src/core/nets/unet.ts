/**
 * The `unet` network type: F(x_in, c_noise) for HWC images, a scaled-down EDM DDPM++/ADM U-Net (Karras et al. 2022,
 * NVlabs edm training/networks.py: SongUNet, UNetBlock). Level l works at H/2^l x W/2^l with C_l = channels *
 * channel_mult[l] channels; n = blocks_per_level; every conv is 3x3 'same' unless named 1x1.
 *
 *   emb   = [cos(2π f_k c_noise), sin(2π f_k c_noise)],  f_k = emb_max_freq^(k / (emb_dim/2 - 1))   [B, emb_dim]
 *   e     = silu(map_layer1(silu(map_layer0(emb))))                            noise-level embedding [B, emb_dim]
 *
 *   block(x, e), in -> out channels (UNetBlock with adaptive scale-shift):
 *     h          = conv0(silu(norm0(x)))
 *     scale, sh  = split(affine(e))                                            [B, out] each
 *     h          = conv1(silu(norm1(h) * (1 + scale) + sh))                    conv1 starts at zero
 *     y          = h + skip(x)                                                 skip: 1x1 conv if in != out, else x
 *     y          = y + proj(softmax(q k^T / sqrt(out)) v),  [q|k|v] = qkv(norm2(y))
 *                                   only at attn_resolutions; one head over the H W positions; proj starts at zero
 *
 *   h = enc.{R}_conv(x_in)                                                    R = "HxW" of the level
 *   for l = 0 .. L-1:   (l > 0: h = avg_pool_2x2(h))
 *     for i < n:        h = enc.{R}_block{i}(h, e);  keep h as a skip
 *   h = dec.{R}_in0(h, e)                                                     at the lowest resolution
 *   for l = L-1 .. 0:
 *     for i < n:        h = dec.{R}_block{i}(concat(h, last kept skip), e)
 *     (l > 0: h = upsample_2x(h), nearest, by reshape + tile)
 *   F = out_conv(silu(out_norm(h)))                                            out_conv starts at zero: fresh F = 0
 *
 * Tensors (PyTorch layouts): Conv2d weight [out, in, kh, kw] + bias [out] (1x1 convs too: [out, in, 1, 1]),
 * Linear weight [out, in] + bias [out], GroupNorm weight, bias [C] (eps 1e-5). Per block: norm0, conv0, affine
 * [2 out, emb_dim] (scale rows first), norm1, conv1, skip (in != out), and with attention norm2, qkv [3 out, out, 1, 1]
 * (q rows, then k, then v), proj [out, out, 1, 1]. No dropout: forward is a pure function of (params, x, c_noise).
 * tfjs wants HWIO filters, so conv weights are transposed at use; downsampling is avgPool and upsampling reshape +
 * tile, whose gradients are right on every backend (resizeNearestNeighbor's cpu gradient is wrong for batch > 1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { UNET_DEFAULTS, type UnetNetwork } from '../../formats/unet-network';
import type { Rng } from '../rng';
import { noiseEmbedding } from './mlp';
import { attention, conv1x1, conv2d, downsample2, groupNormSilu, linear, silu, upsample2 } from './layers';
import { type HostTensor, type ParamShapes, type Params, linearInit } from './params';

export type UnetSpec = UnetNetwork;

export const DEFAULT_UNET: UnetSpec = { type: 'unet', ...UNET_DEFAULTS, channel_mult: [...UNET_DEFAULTS.channel_mult], attn_resolutions: [...UNET_DEFAULTS.attn_resolutions] };

interface Block { name: string; inC: number; outC: number; attn: boolean }

/** Level l's name part "HxW", its width and whether its blocks attend. */
function levels(spec: UnetSpec, dataShape: number[]): { res: string; height: number; width: number; attn: boolean }[] {
  const [H, W] = dataShape;
  return spec.channel_mult.map((m, l) => {
    const height = H / 2 ** l;
    return { res: `${height}x${W / 2 ** l}`, height, width: spec.channels * m, attn: spec.attn_resolutions.includes(height) };
  });
}

/** The residual blocks in the order forward runs them, with their channel counts. */
function blocks(spec: UnetSpec, dataShape: number[]): Block[] {
  const lv = levels(spec, dataShape);
  const list: Block[] = [];
  const skips: number[] = [];
  let c = lv[0].width;
  lv.forEach(({ res, width, attn }) => {
    for (let i = 0; i < spec.blocks_per_level; i++) {
      list.push({ name: `enc.${res}_block${i}`, inC: c, outC: width, attn });
      c = width;
      skips.push(c);
    }
  });
  const lowest = lv[lv.length - 1];
  list.push({ name: `dec.${lowest.res}_in0`, inC: c, outC: c, attn: lowest.attn });
  for (let l = lv.length - 1; l >= 0; l--) {
    for (let i = 0; i < spec.blocks_per_level; i++) {
      list.push({ name: `dec.${lv[l].res}_block${i}`, inC: c + skips.pop()!, outC: lv[l].width, attn: lv[l].attn });
      c = lv[l].width;
    }
  }
  return list;
}

type Layer = { name: string; kind: 'conv' | 'linear' | 'norm'; shape: number[]; zero?: boolean };

function layers(spec: UnetSpec, dataShape: number[]): Layer[] {
  const dataC = dataShape[2];
  const c0 = spec.channels * spec.channel_mult[0];
  const e = spec.emb_dim;
  const conv = (name: string, out: number, inp: number, k: number, zero = false): Layer => ({ name, kind: 'conv', shape: [out, inp, k, k], zero });
  const norm = (name: string, ch: number): Layer => ({ name, kind: 'norm', shape: [ch] });
  const list: Layer[] = [
    { name: 'map_layer0', kind: 'linear', shape: [e, e] },
    { name: 'map_layer1', kind: 'linear', shape: [e, e] },
    conv(`enc.${levels(spec, dataShape)[0].res}_conv`, c0, dataC, 3),
  ];
  for (const b of blocks(spec, dataShape)) {
    list.push(
      norm(`${b.name}.norm0`, b.inC),
      conv(`${b.name}.conv0`, b.outC, b.inC, 3),
      { name: `${b.name}.affine`, kind: 'linear', shape: [2 * b.outC, e] },
      norm(`${b.name}.norm1`, b.outC),
      conv(`${b.name}.conv1`, b.outC, b.outC, 3, true),
    );
    if (b.inC !== b.outC) list.push(conv(`${b.name}.skip`, b.outC, b.inC, 1));
    if (b.attn) list.push(norm(`${b.name}.norm2`, b.outC), conv(`${b.name}.qkv`, 3 * b.outC, b.outC, 1), conv(`${b.name}.proj`, b.outC, b.outC, 1, true));
  }
  list.push(norm('out_norm', c0), conv('out_conv', dataC, c0, 3, true));
  return list;
}

export function unetParamShapes(spec: UnetSpec, dataShape: number[]): ParamShapes {
  return layers(spec, dataShape).flatMap(({ name, shape }): ParamShapes => [
    [`${name}.weight`, shape],
    [`${name}.bias`, [shape[0]]],
  ]);
}

/** PyTorch's defaults: U(±1/sqrt(fan_in)) for Conv2d and Linear (fan_in = in kh kw), ones and zeros for GroupNorm. */
export function unetInit(spec: UnetSpec, dataShape: number[], rng: Rng): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const { name, kind, shape, zero } of layers(spec, dataShape)) {
    if (kind === 'norm') {
      out.set(`${name}.weight`, { shape, data: new Float32Array(shape[0]).fill(1) });
      out.set(`${name}.bias`, { shape, data: new Float32Array(shape[0]) });
      continue;
    }
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    out.set(`${name}.weight`, linearInit(shape, fanIn, rng, zero));
    out.set(`${name}.bias`, linearInit([shape[0]], fanIn, rng, zero));
  }
  return out;
}

function block(params: Params, spec: UnetSpec, blk: Block, x: tf.Tensor4D, e: tf.Tensor2D): tf.Tensor4D {
  const { name, outC } = blk;
  const g = spec.groups;
  const batch = x.shape[0];
  let h = conv2d(params, `${name}.conv0`, groupNormSilu(params, `${name}.norm0`, x, g));
  const scaleShift = tf.reshape(linear(params, `${name}.affine`, e), [batch, 1, 1, 2 * outC]);
  h = conv2d(params, `${name}.conv1`, groupNormSilu(params, `${name}.norm1`, h, g, 1e-5, { scaleShift }));
  let y = tf.add(h, blk.inC !== outC ? conv1x1(params, `${name}.skip`, x) : x) as tf.Tensor4D;
  if (blk.attn) y = tf.add(y, attention(params, name, y, g));
  return y;
}

export function unetForward(spec: UnetSpec, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const dataShape = xIn.shape.slice(1);
    const lv = levels(spec, dataShape);
    const plan = blocks(spec, dataShape);
    const n = spec.blocks_per_level;
    const emb = noiseEmbedding(cNoise, spec.emb_dim, spec.emb_max_freq);
    const e = silu(linear(params, 'map_layer1', silu(linear(params, 'map_layer0', emb)) as tf.Tensor2D)) as tf.Tensor2D;

    let h = conv2d(params, `enc.${lv[0].res}_conv`, xIn as tf.Tensor4D);
    const skips: tf.Tensor4D[] = [];
    let next = 0;
    for (let l = 0; l < lv.length; l++) {
      if (l > 0) h = downsample2(h);
      for (let i = 0; i < n; i++) skips.push((h = block(params, spec, plan[next++], h, e)));
    }
    h = block(params, spec, plan[next++], h, e); // dec.{lowest}_in0
    for (let l = lv.length - 1; l >= 0; l--) {
      for (let i = 0; i < n; i++) h = block(params, spec, plan[next++], tf.concat([h, skips.pop()!], 3), e);
      if (l > 0) h = upsample2(h);
    }
    return conv2d(params, 'out_conv', groupNormSilu(params, 'out_norm', h, spec.groups));
  });
}

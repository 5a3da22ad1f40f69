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
import { UNET_DEFAULTS, type UnetNetwork } from '../../formats/config';
import type { Rng } from '../rng';
import { noiseEmbedding } from './mlp';
import { type HostTensor, type ParamShapes, type Params, linear, linearInit, silu } from './params';

export type UnetSpec = UnetNetwork;

export const DEFAULT_UNET: UnetSpec = { type: 'unet', ...UNET_DEFAULTS, channel_mult: [...UNET_DEFAULTS.channel_mult], attn_resolutions: [...UNET_DEFAULTS.attn_resolutions] };

const GROUP_NORM_EPS = 1e-5;

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

/** Conv2d, 'same' padding, stride 1: x [B, H, W, in] with weight [out, in, kh, kw] -> [B, H, W, out]. */
function conv2d(params: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const filter = tf.transpose(params.get(`${name}.weight`)!, [2, 3, 1, 0]) as tf.Tensor4D; // HWIO
  return tf.add(tf.conv2d(x, filter, 1, 'same'), params.get(`${name}.bias`)!);
}

/** A 1x1 Conv2d as a Linear over the channels (the plain-matMul `linear`). */
function conv1x1(params: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const weight = params.get(`${name}.weight`)!;
  const asLinear: Params = new Map([
    ['w.weight', tf.reshape(weight, [weight.shape[0], c])],
    ['w.bias', params.get(`${name}.bias`)!],
  ]);
  return tf.reshape(linear(asLinear, 'w', tf.reshape(x, [b * h * w, c])), [b, h, w, -1]);
}

/** Per-sample, per-channel mean over (H, W), [B, 1, 1, C]: a global avgPool (on wasm 6x faster than tf.mean). */
const channelMean = (x: tf.Tensor4D): tf.Tensor4D => tf.avgPool(x, [x.shape[1], x.shape[2]], 1, 'valid');

/** The mean over each channel group of a per-channel statistic s [B, 1, 1, C], broadcast back to [B, 1, 1, C]. */
function groupMean(s: tf.Tensor, groups: number): tf.Tensor {
  const [b, , , c] = s.shape;
  const perGroup = tf.mean(tf.reshape(s, [b, groups, c / groups]), 2, true);
  return tf.reshape(tf.add(perGroup, tf.zeros([1, 1, c / groups])), [b, 1, 1, c]);
}

/**
 * GroupNorm over (H, W, channels of the group) of each sample, then the per-channel affine:
 *   x^ = (x - mu_g) r_g,  r_g = 1 / sqrt(var_g + eps),  y = x^ w + b.
 * The backward pass is written out (fewer full-size ops than autodiff through the means):
 *   db = sum dy,  dw = sum dy x^,  dx = r_g (dy w - mean_g(dy w) - x^ mean_g(dy w x^)),
 * where sum runs over (B, H, W) and mean_g over the group's (H, W, channels).
 */
function groupNormOp(groups: number) {
  return tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const centred: tf.Tensor4D = tf.sub(x, groupMean(channelMean(x), groups));
    const r = tf.rsqrt(tf.add(groupMean(channelMean(tf.square(centred)), groups), GROUP_NORM_EPS));
    save([centred, r, w]);
    return {
      value: tf.add(tf.mul(centred, tf.mul(r, w)), b),
      gradFunc: (dy: tf.Tensor4D, [c, rs, ws]: tf.Tensor[]) => {
        const pixels = dy.shape[1] * dy.shape[2];
        const xHat = tf.mul(c, rs);
        const meanDy = channelMean(dy); // [B, 1, 1, C]
        const meanDyXHat = channelMean(tf.mul(dy, xHat) as tf.Tensor4D);
        const dx = tf.sub(
          tf.sub(tf.mul(dy, tf.mul(ws, rs)), tf.mul(xHat, tf.mul(groupMean(tf.mul(meanDyXHat, ws), groups), rs))),
          tf.mul(groupMean(tf.mul(meanDy, ws), groups), rs),
        );
        return [dx, tf.mul(tf.sum(meanDyXHat, [0, 1, 2]), pixels), tf.mul(tf.sum(meanDy, [0, 1, 2]), pixels)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}

function groupNorm(params: Params, name: string, x: tf.Tensor4D, groups: number): tf.Tensor4D {
  return groupNormOp(groups)(x, params.get(`${name}.weight`)!, params.get(`${name}.bias`)!) as tf.Tensor4D;
}

/** Single-head self-attention over the H W positions (the residual term only). */
function attention(params: Params, name: string, x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const qkv = tf.reshape(conv1x1(params, `${name}.qkv`, groupNorm(params, `${name}.norm2`, x, groups)), [b, h * w, 3 * c]);
  const [q, k, v] = tf.split(qkv, 3, 2) as tf.Tensor3D[];
  const kT = tf.transpose(k, [0, 2, 1]); // plain matMuls only, as in `linear`
  const weights = tf.softmax(tf.mul(tf.matMul(q, kT), 1 / Math.sqrt(c)));
  return conv1x1(params, `${name}.proj`, tf.reshape(tf.matMul(weights, v), [b, h, w, c]));
}

function block(params: Params, spec: UnetSpec, blk: Block, x: tf.Tensor4D, e: tf.Tensor2D): tf.Tensor4D {
  const { name, outC } = blk;
  const g = spec.groups;
  const batch = x.shape[0];
  let h = conv2d(params, `${name}.conv0`, silu(groupNorm(params, `${name}.norm0`, x, g)) as tf.Tensor4D);
  const [scale, shift] = tf.split(tf.reshape(linear(params, `${name}.affine`, e), [batch, 1, 1, 2 * outC]), 2, 3);
  h = tf.add(tf.mul(groupNorm(params, `${name}.norm1`, h, g), tf.add(scale, 1)), shift);
  h = conv2d(params, `${name}.conv1`, silu(h) as tf.Tensor4D);
  let y = tf.add(h, blk.inC !== outC ? conv1x1(params, `${name}.skip`, x) : x) as tf.Tensor4D;
  if (blk.attn) y = tf.add(y, attention(params, name, y, g));
  return y;
}

/** Average pooling over 2x2 windows: [B, H, W, C] -> [B, H/2, W/2, C]. */
const downsample2 = (x: tf.Tensor4D): tf.Tensor4D => tf.avgPool(x, 2, 2, 'valid');

/**
 * Nearest-neighbour 2x upsampling, [B, H, W, C] -> [B, 2H, 2W, C]: reshape and repeat each pixel along W, then
 * each row along H (a broadcast add of zeros: the tile that tfjs-wasm's Tile kernel does 20x slower). Its gradient
 * is the 2x2 sum pooling, written as 4 avgPool.
 */
const upsample2 = tf.customGrad(((x: tf.Tensor4D) => {
  const [b, h, w, c] = x.shape;
  const twice = tf.zeros([1, 2, 1]);
  const wide = tf.reshape(tf.add(tf.reshape(x, [b * h * w, 1, c]), twice), [b * h, 1, 2 * w * c]);
  return {
    value: tf.reshape(tf.add(wide, twice), [b, 2 * h, 2 * w, c]),
    gradFunc: (dy: tf.Tensor4D) => tf.mul(tf.avgPool(dy, 2, 2, 'valid'), 4),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor4D) => tf.Tensor4D;

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
    return conv2d(params, 'out_conv', silu(groupNorm(params, 'out_norm', h, spec.groups)) as tf.Tensor4D);
  });
}

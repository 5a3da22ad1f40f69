/**
 * The `diffusers-unet2d` network type: huggingface diffusers' UNet2DModel. F(x_in, c_noise, labels) is
 * UNet2DModel(sample=x_in, timestep=c_noise, class_labels=argmax(labels)).sample on NHWC tensors:
 *
 *   x = 2 x - 1                                        center_input_sample
 *   t = Timesteps(c_noise)                             positional: f_k = exp(-ln(10000) k / (half - freq_shift)), [sin | cos]
 *                                                      (flipped to [cos | sin] by flip_sin_to_cos), a zero column when odd;
 *       GaussianFourierProjection(c_noise)             fourier: [sin | cos](ln(c_noise) W 2 pi), W the buffer time_proj.weight
 *   emb = linear_2(silu(linear_1(t))) + one-hot labels @ class_embedding.weight
 *   conv_in, the down blocks (resnet [+ attention] per layer, each output a skip, then the downsampler, whose output
 *   is a skip too), the mid block (resnet, attention, resnet), the up blocks (each resnet on [h | skip]), then
 *   conv_out(silu(conv_norm_out(h))); divided by c_noise for the Fourier embedding, as UNet2DModel does.
 *
 * ResnetBlock2D: h = conv1(silu(norm1(x))), h = norm2(h + proj(silu(emb))) ('default') or
 * norm2(h) (1 + scale) + shift ('scale_shift'), h = conv2(silu(h)), out = (shortcut(x) + h) / output_scale_factor.
 * Attention: softmax(q k^T / sqrt(head_dim)) v over the H W positions of group_norm(x), to_out.0, + x, / rescale.
 * Downsampling: a stride-2 3x3 conv padded by 1 (downsample_padding 1) or by 1 on the right and bottom only (0).
 * Upsampling: nearest 2x, then a 3x3 conv. No dropout. Tensor names and layouts are diffusers' state dict.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type DiffusersAttention, type DiffusersLayer, type DiffusersPlan, type DiffusersResnet, type DiffusersUnet2dNetwork, DIFFUSERS_UNET2D_DEFAULTS,
  diffusersUnet2dPlan,
} from '../../formats/diffusers-network';
import type { Rng } from '../rng';
import { requireLabels } from './edm-songunet';
import { conv2d, groupNorm, groupNormSilu, linear, multiHead, silu, upsample2 } from './layers';
import { type HostTensor, type ParamShapes, type Params, linearInit } from './params';

export type DiffusersUnet2dSpec = DiffusersUnet2dNetwork;

export const DEFAULT_DIFFUSERS_UNET2D: DiffusersUnet2dSpec = {
  type: 'diffusers-unet2d', sample_size: 32, in_channels: 3, out_channels: 3, ...DIFFUSERS_UNET2D_DEFAULTS,
  down_block_types: [...DIFFUSERS_UNET2D_DEFAULTS.down_block_types], up_block_types: [...DIFFUSERS_UNET2D_DEFAULTS.up_block_types],
  block_out_channels: [...DIFFUSERS_UNET2D_DEFAULTS.block_out_channels],
};

// ---------------------------------------------------------------------------------------------------------------
// Tensors

type Init = 'uniform' | 'ones' | 'zeros' | 'normal' | 'fourier';
interface Tensor { name: string; shape: number[]; init: Init; fanIn: number }

/** The tensors in diffusers' registration order (= state-dict order). */
function tensors(spec: DiffusersUnet2dSpec): Tensor[] {
  const plan = diffusersUnet2dPlan(spec);
  const list: Tensor[] = [];
  const conv = (name: string, out: number, inp: number, k: number, bias = true) => {
    list.push({ name: `${name}.weight`, shape: [out, inp, k, k], init: 'uniform', fanIn: inp * k * k });
    if (bias) list.push({ name: `${name}.bias`, shape: [out], init: 'uniform', fanIn: inp * k * k });
  };
  const lin = (name: string, out: number, inp: number) => {
    list.push({ name: `${name}.weight`, shape: [out, inp], init: 'uniform', fanIn: inp }, { name: `${name}.bias`, shape: [out], init: 'uniform', fanIn: inp });
  };
  const norm = (name: string, c: number) => {
    list.push({ name: `${name}.weight`, shape: [c], init: 'ones', fanIn: 0 }, { name: `${name}.bias`, shape: [c], init: 'zeros', fanIn: 0 });
  };
  const resnet = (r: DiffusersResnet) => {
    norm(`${r.name}.norm1`, r.inC);
    conv(`${r.name}.conv1`, r.outC, r.inC, 3);
    lin(`${r.name}.time_emb_proj`, r.scaleShift ? 2 * r.outC : r.outC, plan.embChannels);
    norm(`${r.name}.norm2`, r.outC);
    conv(`${r.name}.conv2`, r.outC, r.outC, 3);
    if (r.inC !== r.outC) conv(`${r.name}.conv_shortcut`, r.outC, r.inC, 1);
  };
  const attention = (a: DiffusersAttention) => {
    const inner = a.heads * a.headDim;
    if (a.groups !== null) norm(`${a.name}.group_norm`, a.channels);
    for (const p of ['to_q', 'to_k', 'to_v']) lin(`${a.name}.${p}`, inner, a.channels);
    lin(`${a.name}.to_out.0`, a.channels, inner);
  };
  // blocks register their attentions before their resnets
  const layers = (ls: DiffusersLayer[]) => {
    for (const l of ls) if (l.attention) attention(l.attention);
    for (const l of ls) resnet(l.resnet);
  };
  conv('conv_in', spec.block_out_channels[0], spec.in_channels, 3);
  if (spec.time_embedding_type === 'fourier') list.push({ name: 'time_proj.weight', shape: [plan.projChannels], init: 'fourier', fanIn: 0 });
  lin('time_embedding.linear_1', plan.embChannels, plan.timeInput);
  lin('time_embedding.linear_2', plan.embChannels, plan.embChannels);
  if (spec.num_class_embeds) list.push({ name: 'class_embedding.weight', shape: [spec.num_class_embeds, plan.embChannels], init: 'normal', fanIn: 0 });
  // UNet2DModel assigns mid_block after creating (the empty) up_blocks: the state dict has up_blocks first
  for (const st of [...plan.down, ...plan.up, ...(plan.mid ? [{ layers: plan.mid, sampler: null }] : [])]) {
    layers(st.layers);
    if (st.sampler?.kind === 'conv') conv(st.sampler.name, st.sampler.channels, st.sampler.channels, 3);
    if (st.sampler?.kind === 'resnet') resnet(st.sampler.resnet);
  }
  norm('conv_norm_out', spec.block_out_channels[0]);
  conv('conv_out', spec.out_channels, spec.block_out_channels[0], 3);
  return list;
}

function checkData(spec: DiffusersUnet2dSpec, dataShape: number[]): void {
  const want = [spec.sample_size, spec.sample_size, spec.in_channels];
  if (dataShape.join(',') !== want.join(',') || spec.out_channels !== spec.in_channels) {
    throw new Error(`diffusers-unet2d: data shape [${dataShape}] does not match sample_size ${spec.sample_size}, in_channels ${spec.in_channels}, out_channels ${spec.out_channels}`);
  }
}

export function diffusersUnet2dParamShapes(spec: DiffusersUnet2dSpec, dataShape: number[]): ParamShapes {
  checkData(spec, dataShape);
  return tensors(spec).map(({ name, shape }) => [name, shape]);
}

/** GaussianFourierProjection's weight (requires_grad=False in diffusers): a fixed buffer. */
export function diffusersUnet2dBuffers(spec: DiffusersUnet2dSpec): string[] {
  return spec.time_embedding_type === 'fourier' ? ['time_proj.weight'] : [];
}

/** PyTorch's default inits (Conv2d / Linear U(+-1/sqrt(fan_in)), GroupNorm 1 and 0, nn.Embedding N(0, 1)), Fourier W ~ 16 N(0, 1). */
export function diffusersUnet2dInit(spec: DiffusersUnet2dSpec, dataShape: number[], rng: Rng): Map<string, HostTensor> {
  checkData(spec, dataShape);
  const out = new Map<string, HostTensor>();
  for (const { name, shape, init, fanIn } of tensors(spec)) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (init === 'uniform') { out.set(name, linearInit(shape, fanIn, rng)); continue; }
    const data = new Float32Array(size);
    if (init === 'ones') data.fill(1);
    if (init === 'normal' || init === 'fourier') for (let i = 0; i < size; i++) data[i] = rng.normal() * (init === 'fourier' ? 16 : 1);
    out.set(name, { shape, data });
  }
  return out;
}

/**
 * diffusers' renaming of the attention tensors of checkpoints written before its Attention class
 * (query / key / value / proj_attn -> to_q / to_k / to_v / to_out.0), which it applies when loading a UNet2DModel:
 * old name -> new name, for the names that need it (the attentions of the down, mid and up blocks).
 */
export function renameLegacyAttention(names: Iterable<string>): Map<string, string> {
  const to: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };
  const out = new Map<string, string>();
  for (const name of names) {
    const m = /^((?:down_blocks\.\d+|up_blocks\.\d+|mid_block)\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$/.exec(name);
    if (m) out.set(name, `${m[1]}.${to[m[2]]}.${m[3]}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Forward

/** Timesteps' frequencies in float32 as torch computes them: exp((-ln(10000) k) / (half - shift)). */
function positionalFreqs(half: number, shift: number): Float32Array {
  const a = Math.fround(-Math.log(10000));
  const denom = Math.fround(half - shift);
  return Float32Array.from({ length: half }, (_, k) => Math.fround(Math.exp(Math.fround(Math.fround(a * k) / denom))));
}

/** The time projection (before time_embedding), [B, timeInput]. */
function timeProjection(spec: DiffusersUnet2dSpec, params: Params, plan: DiffusersPlan, t: tf.Tensor1D): tf.Tensor2D {
  if (spec.time_embedding_type === 'fourier') {
    const w = params.get('time_proj.weight')!;
    const proj = tf.mul(tf.mul(tf.mul(tf.expandDims(tf.log(t), 1), tf.reshape(w, [1, -1])), 2), Math.PI);
    return tf.concat([tf.sin(proj), tf.cos(proj)], 1) as tf.Tensor2D;
  }
  const half = Math.floor(plan.projChannels / 2);
  const args = tf.mul(tf.expandDims(t, 1), tf.tensor2d(positionalFreqs(half, spec.freq_shift), [1, half]));
  const [sin, cos] = [tf.sin(args), tf.cos(args)];
  let emb = tf.concat(spec.flip_sin_to_cos ? [cos, sin] : [sin, cos], 1) as tf.Tensor2D;
  if (plan.projChannels % 2 === 1) emb = tf.pad(emb, [[0, 0], [0, 1]]);
  return emb;
}

/** A 3x3 conv with stride 2 and PyTorch's padding: 1 on every side, or (downsample_padding 0) 1 on the right and bottom. */
function convDown(params: Params, name: string, x: tf.Tensor4D, padding: 0 | 1): tf.Tensor4D {
  const filter = tf.transpose(params.get(`${name}.weight`)!, [2, 3, 1, 0]) as tf.Tensor4D;
  const padded = tf.pad(x, [[0, 0], [padding, 1], [padding, 1], [0, 0]]);
  return tf.add(tf.conv2d(padded, filter, 2, 'valid'), params.get(`${name}.bias`)!);
}

/** ResnetBlock2D on x [B, H, W, inC] with act = silu(emb) [B, E]. */
export function diffusersResnet(params: Params, r: DiffusersResnet, x: tf.Tensor4D, act: tf.Tensor2D): tf.Tensor4D {
  const n = r.name;
  let h = groupNormSilu(params, `${n}.norm1`, x, r.groups, r.eps);
  if (r.up) { x = upsample2(x); h = upsample2(h); }
  if (r.down) { x = tf.avgPool(x, 2, 2, 'valid'); h = tf.avgPool(h, 2, 2, 'valid'); }
  h = conv2d(params, `${n}.conv1`, h);
  const t = tf.reshape(linear(params, `${n}.time_emb_proj`, act), [act.shape[0], 1, 1, -1]);
  h = conv2d(params, `${n}.conv2`, groupNormSilu(params, `${n}.norm2`, h, r.groups, r.eps, r.scaleShift ? { scaleShift: t } : { add: t }));
  const skip = r.inC !== r.outC ? conv2d(params, `${n}.conv_shortcut`, x) : x;
  const y = tf.add(skip, h) as tf.Tensor4D;
  return r.outputScale === 1 ? y : tf.div(y, r.outputScale) as tf.Tensor4D;
}

/** diffusers' Attention with residual connection over the H W positions of x [B, H, W, C]. */
export function diffusersAttention(params: Params, a: DiffusersAttention, x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const n = a.name;
  const normed = a.groups === null ? x : groupNorm(params, `${n}.group_norm`, x, a.groups, a.eps);
  const flat = tf.reshape(normed, [b * h * w, c]) as tf.Tensor2D;
  const inner = a.heads * a.headDim;
  const proj = (p: string) => tf.reshape(linear(params, `${n}.${p}`, flat), [b, h * w, inner]) as tf.Tensor3D;
  const attended = tf.reshape(multiHead(proj('to_q'), proj('to_k'), proj('to_v'), a.heads), [b * h * w, inner]) as tf.Tensor2D;
  const y = tf.add(tf.reshape(linear(params, `${n}.to_out.0`, attended), [b, h, w, c]), x) as tf.Tensor4D;
  return a.rescale === 1 ? y : tf.div(y, a.rescale) as tf.Tensor4D;
}

function layer(params: Params, l: DiffusersLayer, x: tf.Tensor4D, act: tf.Tensor2D): tf.Tensor4D {
  const y = diffusersResnet(params, l.resnet, x, act);
  return l.attention ? diffusersAttention(params, l.attention, y) : y;
}

export function diffusersUnet2dForward(spec: DiffusersUnet2dSpec, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D, labels?: tf.Tensor2D): tf.Tensor {
  return diffusersUnet2dTrace(spec, params, xIn, cNoise, labels);
}

/**
 * The forward pass, with `trace` called on the intermediate results (inside a tidy: copy what you keep): 'time_proj',
 * 'time_embedding', 'conv_in', 'down_blocks.i', 'mid_block', 'up_blocks.i' (NHWC), then 'out'.
 */
export function diffusersUnet2dTrace(spec: DiffusersUnet2dSpec, params: Params, xIn: tf.Tensor, cNoise: tf.Tensor1D, labels?: tf.Tensor2D,
  trace: (block: string, t: tf.Tensor) => void = () => {}): tf.Tensor {
  return tf.tidy(() => {
    const plan = diffusersUnet2dPlan(spec);
    const batch = xIn.shape[0];
    const proj = timeProjection(spec, params, plan, cNoise);
    trace('time_proj', proj);
    let emb = linear(params, 'time_embedding.linear_2', silu(linear(params, 'time_embedding.linear_1', proj)) as tf.Tensor2D);
    if (spec.num_class_embeds) {
      const l = requireLabels(spec.num_class_embeds, batch, labels, 'this diffusers UNet2DModel');
      emb = tf.add(emb, tf.matMul(l, params.get('class_embedding.weight')!));
    }
    trace('time_embedding', emb);
    const act = silu(emb) as tf.Tensor2D;
    let x = xIn as tf.Tensor4D;
    if (spec.center_input_sample) x = tf.sub(tf.mul(x, 2), 1);
    x = conv2d(params, 'conv_in', x);
    trace('conv_in', x);
    const skips: tf.Tensor4D[] = [x];
    for (const st of plan.down) {
      for (const l of st.layers) skips.push((x = layer(params, l, x, act)));
      if (st.sampler) {
        x = st.sampler.kind === 'conv' ? convDown(params, st.sampler.name, x, st.sampler.padding) : diffusersResnet(params, st.sampler.resnet, x, act);
        skips.push(x);
      }
      trace(st.name, x);
    }
    if (plan.mid) {
      for (const l of plan.mid) x = layer(params, l, x, act);
      trace('mid_block', x);
    }
    for (const st of plan.up) {
      for (const l of st.layers) x = layer(params, l, tf.concat([x, skips.pop()!], 3), act);
      if (st.sampler) {
        x = st.sampler.kind === 'conv' ? conv2d(params, st.sampler.name, upsample2(x)) : diffusersResnet(params, st.sampler.resnet, x, act);
      }
      trace(st.name, x);
    }
    let y = conv2d(params, 'conv_out', groupNormSilu(params, 'conv_norm_out', x, plan.outGroups, spec.norm_eps));
    if (spec.time_embedding_type === 'fourier') y = tf.div(y, tf.reshape(cNoise, [batch, 1, 1, 1]));
    trace('out', y);
    return y;
  });
}

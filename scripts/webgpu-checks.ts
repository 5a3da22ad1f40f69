/**
 * Correctness checks of a tfjs backend, written for webgpu and run on every training backend: cpu and wasm
 * (test/core/unet.test.ts), webgpu through Dawn (test/cli/webgpu-node.test.ts, scripts/webgpu-gradcheck.ts on a real
 * GPU), the browser's webgpu and webgl (e2e/gradients.spec.ts). Each returns what it measured; the callers hold it to
 * the tolerances below. They run on the current backend unless they say otherwise; every tensor is tidied or disposed.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../src/core/gradients';
import { startBackend } from '../src/core/backend';
import { edmDenoiser } from '../src/core/edm';
import { type LearnedNetworkSpec, Network, bufferNames, initParams } from '../src/core/nets';
import { flatConcat, flatSplit } from '../src/core/kernels/flat';
import { conv2d, groupNorm, groupNormSilu, linear } from '../src/core/nets/layers';
import type { EdmDhariwalUnetSpec } from '../src/core/nets/edm-dhariwalunet';
import type { EdmSongUnetSpec } from '../src/core/nets/edm-songunet';
import type { DiffusersUnet2dSpec } from '../src/core/nets/diffusers-unet2d';
import type { MlpSpec } from '../src/core/nets/mlp';
import type { UnetSpec } from '../src/core/nets/unet';
import { PidTrainer, pidLoss, stopGradDenoiser } from '../src/core/pid';
import { Rng } from '../src/core/rng';
import { GaussianMixtureDenoiser } from '../src/core/teachers/gaussian-mixture';
import { DEFAULT_EDM } from '../src/formats/config';

/** The GPU backends the checks compare with cpu: webgpu (Node through Dawn, or a browser) and webgl (a browser). */
export type GpuBackend = 'webgpu' | 'webgl';

/** Float32 central differences: step 1e-2, relative error (to max(1, |fd|)) under 5e-3, as the cpu/wasm checks. */
export const UNET_FD = { eps: 1e-2, tolerance: 5e-3 };
/** PID loss gradient on webgpu against cpu: max |difference| under this fraction of the largest cpu entry. */
export const PID_VS_CPU_TOLERANCE = 1e-3;

/** 8x8 images, 8 channels, two levels (8x8, 4x4), attention at 4x4: every kind of unet layer, 27k parameters. */
export const SMALL_UNET: UnetSpec = {
  type: 'unet', channels: 8, channel_mult: [1, 2], blocks_per_level: 1, attn_resolutions: [4], emb_dim: 8, emb_max_freq: 4, groups: 2,
};
const UNET_SHAPE = [8, 8, 2];
const MLP: MlpSpec = { type: 'mlp', hidden: 16, blocks: 2, emb_dim: 4, emb_max_freq: 2 };
const MIXTURE = { weights: [0.5, 0.5], means: [[-0.5, 0.2], [0.4, -0.3]], stds: [0.2, 0.1] };

/**
 * Random weights everywhere (also in the layers that start at zero), so that every path carries gradient; fixed
 * buffers (resampling filters, Fourier frequencies) keep their values. fanInScaled: std scale / sqrt(fan_in) for
 * weights of rank > 1 (wide EDM layers stay O(1)), else std scale.
 */
export function randomNetwork<S extends LearnedNetworkSpec>(spec: S, shape: number[], seed: number, trainable: boolean, scale = 0.3, fanInScaled = false): Network {
  const host = initParams(spec, shape, new Rng(seed));
  const fixed = new Set(bufferNames(spec, shape));
  const rng = new Rng(seed + 1);
  for (const [name, t] of host) {
    if (fixed.has(name)) continue;
    const fanIn = t.shape.slice(1).reduce((a, b) => a * b, 1);
    const std = fanInScaled && t.shape.length > 1 ? scale / Math.sqrt(fanIn) : scale;
    for (let i = 0; i < t.data.length; i++) t.data[i] = std * rng.normal();
  }
  return new Network(spec, shape, host, trainable);
}

/** b noise levels c_noise spread over [-1.5, 1]. */
export const cNoise = (b: number) => tf.tensor1d(Array.from({ length: b }, (_, i) => -1.5 + (2.5 * i) / Math.max(1, b - 1)));

/** Reads a scalar and disposes it (no dataSync: tfjs-webgpu's synchronous read needs OffscreenCanvas, absent in Node). */
async function scalar(s: tf.Scalar): Promise<number> {
  const v = (await s.data())[0];
  s.dispose();
  return v;
}

/** test/helpers/finite-diff.ts's central difference, with asynchronous reads. */
async function centralDifference(v: tf.Variable, i: number, eps: number, f: () => tf.Scalar): Promise<number> {
  const base = (await v.data()).slice() as Float32Array;
  const probe = async (d: number) => {
    const p = base.slice();
    p[i] += d;
    tf.tidy(() => v.assign(tf.tensor(p, v.shape)));
    return scalar(f());
  };
  const fd = ((await probe(eps)) - (await probe(-eps))) / (2 * eps);
  tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
  return fd;
}

export interface GradientProbe {
  name: string;
  index: number;
  autodiff: number;
  finiteDifference: number;
  /** |fd - autodiff| / max(1, |fd|) */
  error: number;
}

/** Autodiff against central finite differences for 3 entries of each named tensor of `net`, batch 3. */
async function networkGradientCheck(net: Network, shape: number[], names: string[], labelDim = 0): Promise<GradientProbe[]> {
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(new Rng(3).normals(3 * size), [3, ...shape]);
  const c = cNoise(3);
  const r = tf.tensor(new Rng(4).normals(3 * size), [3, ...shape]);
  const labels = labelDim > 0 ? tf.tensor2d(Array.from({ length: 3 * labelDim }, (_, i) => (i % labelDim === (Math.floor(i / labelDim) * 2) % labelDim ? 1 : 0)), [3, labelDim]) : undefined;
  const f = () => tf.tidy(() => tf.sum(tf.mul(net.apply(x, c, labels), r)) as tf.Scalar);
  const vars = [...net.params.values()].filter((v) => v instanceof tf.Variable) as tf.Variable[];
  const { value, grads } = tf.variableGrads(f, vars);
  value.dispose();
  const rng = new Rng(5);
  const probes: GradientProbe[] = [];
  for (const name of names) {
    const v = net.params.get(name) as tf.Variable;
    if (!v) throw new Error(`no tensor '${name}' to probe`);
    const g = await grads[v.name].data();
    for (const index of [0, v.size - 1, rng.int(v.size)]) {
      const finiteDifference = await centralDifference(v, index, UNET_FD.eps, f);
      const error = Math.abs(finiteDifference - g[index]) / Math.max(1, Math.abs(finiteDifference));
      probes.push({ name, index, autodiff: g[index], finiteDifference, error });
    }
  }
  tf.dispose([x, c, r, ...(labels ? [labels] : []), ...Object.values(grads)]);
  return probes;
}

/** Autodiff against central finite differences for 3 entries of 12 unet tensors (every layer kind), batch 3. */
export async function unetGradientCheck(): Promise<GradientProbe[]> {
  const net = randomNetwork(SMALL_UNET, UNET_SHAPE, 1, true, 0.3);
  const names = [
    'enc.8x8_conv.weight', // the first conv
    'enc.4x4_block0.conv0.weight', // a conv after average pooling
    'dec.8x8_block0.conv0.weight', // a conv after upsampling and the skip concat
    'dec.8x8_block0.norm0.weight', // GroupNorm
    'enc.8x8_block0.norm1.bias',
    'enc.8x8_block0.affine.weight', // scale-shift from the embedding
    'map_layer0.weight', // the embedding MLP
    'map_layer1.bias',
    'dec.4x4_in0.qkv.weight', // attention
    'dec.4x4_block0.proj.bias',
    'enc.4x4_block0.skip.weight', // 1x1 skip
    'out_conv.weight',
  ];
  const probes = await networkGradientCheck(net, UNET_SHAPE, names);
  net.dispose();
  return probes;
}

/** Tolerances of the EDM network checks: those of the unet. */
export const EDM_FD = UNET_FD;

/** Tiny EDM networks for the gradient checks (8x8x2 and 4x4x2 images), with the tensors to probe (every layer kind). */
export const EDM_GRAD_NETS = {
  /** NCSN++ options (Fourier embedding, residual encoder with fused down-sampling, [1,3,3,1]), class labels. */
  'NCSN++ SongUNet': {
    spec: {
      type: 'edm-songunet', img_resolution: 8, in_channels: 2, out_channels: 2, label_dim: 3, augment_dim: 0, model_channels: 8,
      channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4], dropout: 0, label_dropout: 0,
      embedding_type: 'fourier', channel_mult_noise: 2, encoder_type: 'residual', decoder_type: 'standard', resample_filter: [1, 3, 3, 1],
    } satisfies EdmSongUnetSpec as EdmSongUnetSpec | EdmDhariwalUnetSpec,
    names: [
      'enc.8x8_conv.weight', 'enc.4x4_down.conv0.weight', 'enc.4x4_down.skip.weight', 'enc.4x4_aux_residual.weight',
      'enc.4x4_block0.qkv.weight', 'dec.4x4_in0.proj.bias', 'dec.8x8_up.conv0.weight', 'dec.8x8_up.skip.bias',
      'dec.8x8_block0.norm0.weight', 'map_label.weight', 'map_layer0.weight', 'dec.8x8_aux_conv.weight',
    ],
  },
  /** ADM: adaptive scale-shift, 2 attention heads at 2x2 (128 channels), weightless resampling skips, class labels. */
  DhariwalUNet: {
    spec: {
      type: 'edm-dhariwalunet', img_resolution: 4, in_channels: 2, out_channels: 2, label_dim: 3, augment_dim: 2, model_channels: 32,
      channel_mult: [1, 4], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [2], dropout: 0, label_dropout: 0,
    } satisfies EdmDhariwalUnetSpec as EdmSongUnetSpec | EdmDhariwalUnetSpec,
    names: [
      'enc.4x4_conv.weight', 'enc.2x2_down.conv0.weight', 'enc.2x2_block0.conv0.weight', 'enc.2x2_block0.affine.weight',
      'enc.2x2_block0.qkv.weight', 'dec.2x2_in0.qkv.bias', 'dec.2x2_block0.proj.weight', 'dec.4x4_up.conv0.weight',
      'dec.4x4_block0.skip.weight', 'map_label.weight', 'map_layer1.bias', 'out_conv.weight',
    ],
  },
};

/** Autodiff against central finite differences for 3 entries of 12 tensors of a tiny EDM network, batch 3. */
export async function edmGradientCheck(which: keyof typeof EDM_GRAD_NETS): Promise<GradientProbe[]> {
  const { spec, names } = EDM_GRAD_NETS[which];
  const shape = [spec.img_resolution, spec.img_resolution, spec.in_channels];
  const net = randomNetwork(spec, shape, 1, true, 1, true);
  const probes = await networkGradientCheck(net, shape, names, spec.label_dim);
  net.dispose();
  return probes;
}

/**
 * A tiny diffusers UNet2DModel (8x8x2 images) for the gradient checks: DownBlock2D and AttnDownBlock2D (4 heads),
 * the stride-2 conv downsampler, the mid block, AttnUpBlock2D and UpBlock2D with the nearest 2x + conv upsampler,
 * conv_shortcut, positional time embedding, class labels; with the tensors to probe.
 */
export const DIFFUSERS_GRAD_NET = {
  spec: {
    type: 'diffusers-unet2d', sample_size: 8, in_channels: 2, out_channels: 2, center_input_sample: false, time_embedding_type: 'positional',
    time_embedding_dim: null, freq_shift: 0, flip_sin_to_cos: true, down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], mid_block_type: 'UNetMidBlock2D',
    up_block_types: ['AttnUpBlock2D', 'UpBlock2D'], block_out_channels: [8, 16], layers_per_block: 1, mid_block_scale_factor: 1, downsample_padding: 1,
    downsample_type: 'conv', upsample_type: 'conv', dropout: 0, act_fn: 'silu', attention_head_dim: 4, norm_num_groups: 4, attn_norm_num_groups: null,
    norm_eps: 1e-5, resnet_time_scale_shift: 'default', add_attention: true, class_embed_type: null, num_class_embeds: 3,
  } satisfies DiffusersUnet2dSpec as DiffusersUnet2dSpec,
  names: [
    'conv_in.weight', 'time_embedding.linear_1.weight', 'down_blocks.0.resnets.0.conv1.weight', 'down_blocks.0.downsamplers.0.conv.weight',
    'down_blocks.1.resnets.0.conv_shortcut.weight', 'down_blocks.1.attentions.0.to_q.weight', 'mid_block.attentions.0.to_out.0.bias',
    'mid_block.resnets.1.time_emb_proj.weight', 'up_blocks.0.attentions.1.group_norm.bias', 'up_blocks.0.upsamplers.0.conv.weight',
    'up_blocks.1.resnets.1.norm1.weight', 'class_embedding.weight', 'conv_out.weight',
  ],
};

/** Autodiff against central finite differences for 3 entries of 13 tensors of the tiny UNet2DModel, batch 3 (tolerances EDM_FD). */
export async function diffusersGradientCheck(): Promise<GradientProbe[]> {
  const { spec, names } = DIFFUSERS_GRAD_NET;
  const shape = [spec.sample_size, spec.sample_size, spec.in_channels];
  const net = randomNetwork(spec, shape, 1, true, 1, true);
  const probes = await networkGradientCheck(net, shape, names, spec.num_class_embeds ?? 0);
  net.dispose();
  return probes;
}

/** The PID loss (l2, stop-gradient teacher) and its gradient for a random mlp student, on `backend`, as host data. */
async function pidGradientOn(backend: 'cpu' | GpuBackend): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  await startBackend(backend);
  const net = randomNetwork(MLP, [2], 4, true, 0.4);
  const teacher = new GaussianMixtureDenoiser(MIXTURE);
  const z = tf.tensor2d(new Rng(3).normals(16, 80), [8, 2]);
  const t = tf.tensor1d([80, 20, 3, 0.6, 0.05, 0.002, 40, 1]);
  const tNext = tf.tensor1d([60, 15, 2.5, 0.5, 0.04, 0.0022, 30, 0.8]);
  const vars = [...net.params.values()] as tf.Variable[];
  const { value, grads } = tf.variableGrads(() => pidLoss(net.apply, stopGradDenoiser(teacher), DEFAULT_EDM, 'l2', z, t, tNext), vars);
  const host = new Map<string, Float32Array>();
  for (const [name, v] of net.params) host.set(name, (await grads[(v as tf.Variable).name].data()) as Float32Array);
  const loss = await scalar(value);
  tf.dispose([z, t, tNext, ...Object.values(grads)]);
  net.dispose();
  teacher.dispose();
  return { loss, grads: host };
}

/** The same PID loss gradient on cpu and on `backend` (webgpu, or webgl in a browser); leaves `backend` running. */
export async function pidGradientVsCpu(backend: GpuBackend = 'webgpu'): Promise<{ lossCpu: number; lossGpu: number; maxDifference: number; largest: number; worst: string }> {
  const cpu = await pidGradientOn('cpu');
  const gpu = await pidGradientOn(backend);
  let maxDifference = 0;
  let largest = 0;
  let worst = '';
  for (const [name, a] of cpu.grads) {
    const b = gpu.grads.get(name)!;
    a.forEach((ai, i) => {
      largest = Math.max(largest, Math.abs(ai));
      const d = Math.abs(ai - b[i]);
      if (d > maxDifference) [maxDifference, worst] = [d, `${name}[${i}]: cpu ${ai}, ${backend} ${b[i]}`];
    });
  }
  return { lossCpu: cpu.loss, lossGpu: gpu.loss, maxDifference, largest, worst };
}

/** tf.memory().numTensors after each of `steps` PID steps of a small unet student (random unet teacher), batch 4. */
export async function tensorsOverPidSteps(steps: number): Promise<{ numTensors: number[]; losses: number[]; msPerStep: number }> {
  const teacherNet = randomNetwork(SMALL_UNET, UNET_SHAPE, 9, false, 0.1);
  const student = new Network(SMALL_UNET, UNET_SHAPE, initParams(SMALL_UNET, UNET_SHAPE, new Rng(10)), true);
  const trainer = new PidTrainer({
    teacher: edmDenoiser(teacherNet.apply, DEFAULT_EDM.sigma_data),
    student,
    edm: DEFAULT_EDM,
    settings: { N: 20, loss: 'l2', optimizer: 'radam', lr: 1e-3, batch: 4, ema: 0.99, seed: 0 },
  });
  const numTensors: number[] = [];
  const losses: number[] = [];
  const start = performance.now();
  for (let i = 0; i < steps; i++) {
    losses.push((await trainer.trainStep()).loss);
    numTensors.push(tf.memory().numTensors);
  }
  const msPerStep = (performance.now() - start) / steps;
  trainer.dispose();
  student.dispose();
  teacherNet.dispose();
  return { numTensors, losses, msPerStep };
}

/**
 * The trainer on cpu and on `backend` from the same weights and seed: 6 steps in one trainSteps chunk, the teacher
 * answering NaN at the 3rd (the device-side guard must skip it), then 4 single trainStep() calls. Returns the largest
 * difference of the losses and of the weights relative to their largest entry, and the skip pattern on `backend`.
 */
export async function trainerVsCpu(backend: GpuBackend = 'webgpu'): Promise<{ lossDifference: number; weightDifference: number; skipped: boolean[] }> {
  const run = async (name: 'cpu' | GpuBackend) => {
    await startBackend(name);
    const good = new GaussianMixtureDenoiser(MIXTURE);
    let call = 0;
    const teacher = { denoise: (x: tf.Tensor, s: tf.Tensor1D) => (++call === 3 ? tf.mul(good.denoise(x, s), NaN) : good.denoise(x, s)) };
    const student = randomNetwork(MLP, [2], 21, true);
    const trainer = new PidTrainer({ teacher, student, edm: DEFAULT_EDM, settings: { N: 40, loss: 'l2', optimizer: 'radam', lr: 1e-2, batch: 16, ema: 0.9, seed: 5 } });
    const metrics = await trainer.trainSteps(6);
    for (let i = 0; i < 4; i++) metrics.push(await trainer.trainStep());
    const weights = await Promise.all([...student.params.values()].map(async (p) => Array.from(await p.data())));
    trainer.dispose();
    student.dispose();
    good.dispose();
    return { losses: metrics.map((m) => m.loss), skipped: metrics.map((m) => m.skipped), weights: weights.flat() };
  };
  const cpu = await run('cpu');
  const gpu = await run(backend);
  const rel = (a: number[], b: number[]) => {
    const finite = a.map((v, i) => [v, b[i]]).filter(([v, w]) => Number.isFinite(v) || Number.isFinite(w));
    return Math.max(...finite.map(([v, w]) => Math.abs(v - w))) / Math.max(...finite.map(([v]) => Math.abs(v)));
  };
  const sameSkips = cpu.skipped.every((s, i) => s === gpu.skipped[i]);
  return { lossDifference: sameSkips ? rel(cpu.losses, gpu.losses) : Infinity, weightDifference: rel(cpu.weights, gpu.weights), skipped: gpu.skipped };
}

/** GroupNorm (+ SiLU) on `backend` against cpu: max |difference| over max(1, max |cpu|), each output and gradient. */
export const GROUP_NORM_VS_CPU_TOLERANCE = 1e-4;

/**
 * nets/layers.ts's groupNorm and groupNormSilu (with an add before or scale and shift after) on `backend` and on cpu,
 * for two shapes (one of a single pixel): the worst relative difference of y and of the
 * gradients of sum(y r) in x, w, b and the add or [scale | shift], per variant, and the kernels that ran on `backend`
 * (webgpu: kernels/webgpu-group-norm.ts's fused ones). Leaves `backend` running.
 */
export async function groupNormVsCpu(backend: GpuBackend = 'webgpu'): Promise<{ variants: { name: string; worst: number; what: string }[]; kernels: string[] }> {
  const shapes: { shape: [number, number, number, number]; groups: number }[] = [{ shape: [3, 5, 7, 16], groups: 4 }, { shape: [2, 1, 1, 8], groups: 2 }];
  const variants = [
    { name: 'groupNorm', silu: false, mode: 'none' },
    { name: 'silu(groupNorm)', silu: true, mode: 'none' },
    { name: 'silu(groupNorm (1 + scale) + shift)', silu: true, mode: 'scaleShift' },
    { name: 'silu(groupNorm(x + p))', silu: true, mode: 'add' },
  ] as const;
  const run = async (name: 'cpu' | GpuBackend, s: (typeof shapes)[number], v: (typeof variants)[number]) => {
    await startBackend(name);
    const rng = new Rng(s.shape.reduce((a, b) => a * b, 1));
    const [batch, , , c] = s.shape;
    const host = (shape: number[], f: () => number) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, f), shape);
    const x = host(s.shape, () => 1 + rng.normal());
    const r = host(s.shape, () => rng.normal());
    const w = host([c], () => 1 + 0.5 * rng.normal());
    const b = host([c], () => 0.3 * rng.normal());
    const cond = host([batch, 1, 1, v.mode === 'scaleShift' ? 2 * c : c], () => 0.5 * rng.normal());
    const layer = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor, cs: tf.Tensor) => {
      const params = new Map([['n.weight', ws], ['n.bias', bs]]);
      const extra = v.mode === 'add' ? { add: cs } : v.mode === 'scaleShift' ? { scaleShift: cs } : {};
      return (v.silu ? groupNormSilu : groupNorm)(params, 'n', xs as tf.Tensor4D, s.groups, 1e-5, extra);
    };
    const inputs = v.mode === 'none' ? [x, w, b] : [x, w, b, cond];
    let kernels: string[] = [];
    const outs: Float32Array[] = [];
    const profile = await tf.profile(async () => {
      const y = layer(x, w, b, cond);
      const { value, grads } = tf.valueAndGrads((...t: tf.Tensor[]) => tf.sum(tf.mul(layer(t[0], t[1], t[2], t[3] ?? cond), r)) as tf.Scalar)(inputs);
      for (const t of [y, ...grads]) outs.push((await t.data()) as Float32Array);
      tf.dispose([y, value, ...grads]);
      return [] as tf.Tensor[];
    });
    kernels = profile.kernelNames;
    tf.dispose([x, r, w, b, cond]);
    return { outs, kernels };
  };
  const result: { name: string; worst: number; what: string }[] = [];
  const kernels = new Set<string>();
  const names = ['y', 'dx', 'dw', 'db', 'dcond'];
  for (const v of variants) {
    let worst = 0;
    let what = '';
    for (const s of shapes) {
      const cpu = await run('cpu', s, v);
      const gpu = await run(backend, s, v);
      gpu.kernels.forEach((k) => kernels.add(k));
      cpu.outs.forEach((a, k) => {
        const scale = Math.max(1, ...a.map(Math.abs));
        const d = Math.max(...a.map((ai, i) => (Number.isFinite(gpu.outs[k][i]) ? Math.abs(ai - gpu.outs[k][i]) : Infinity))) / scale;
        if (d > worst || what === '') [worst, what] = [d, `${names[k]} of ${s.shape.join('x')} in ${s.groups} groups`];
      });
    }
    result.push({ name: v.name, worst, what });
  }
  await startBackend(backend);
  return { variants: result, kernels: [...kernels] };
}

export const LAYERS_VS_CPU_TOLERANCE = 1e-4;

/**
 * nets/layers.ts's linear and conv2d on `backend` and on cpu (on webgpu nets/webgpu-layers.ts's: the fused product,
 * the column sums of a bias gradient, the chunked weight gradient with one and several chunks, the tiled input
 * gradient), and the optimiser's flatConcat / flatSplit round trip (on webgpu buffer copies): the worst relative
 * difference of y and of the gradients of sum(y r) in x, the weight and the bias, whether the round trip was exact,
 * and the kernels that ran on `backend`. Leaves `backend` running.
 */
export async function layersVsCpu(backend: GpuBackend = 'webgpu'): Promise<{ worst: number; what: string; flatExact: boolean; kernels: string[] }> {
  const cases: { layer: 'linear' | 'conv'; x: number[]; w: number[] }[] = [
    { layer: 'linear', x: [300, 17], w: [33, 17] },
    { layer: 'conv', x: [1, 5, 5, 3], w: [4, 3, 3, 3] }, // 25 pixels: one chunk of the weight gradient
    { layer: 'conv', x: [2, 28, 28, 4], w: [8, 4, 3, 3] }, // 1568 pixels: several chunks
  ];
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const kernels = new Set<string>();
  const run = async (name: 'cpu' | GpuBackend, c: (typeof cases)[number]) => {
    await startBackend(name);
    const rng = new Rng(size(c.x));
    const host = (shape: number[], scale: number) => tf.tensor(rng.normals(size(shape), scale), shape);
    const [x, w, b] = [host(c.x, 1), host(c.w, 0.5), host([c.w[0]], 1)];
    const apply = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => {
      const params = new Map([['l.weight', ws], ['l.bias', bs]]);
      return c.layer === 'linear' ? linear(params, 'l', xs as tf.Tensor2D) : conv2d(params, 'l', xs as tf.Tensor4D);
    };
    const r = host(c.layer === 'linear' ? [c.x[0], c.w[0]] : [...c.x.slice(0, 3), c.w[0]], 1);
    const outs: Float32Array[] = [];
    const profile = await tf.profile(async () => {
      const y = apply(x, w, b);
      const { value, grads } = tf.valueAndGrads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(apply(xs, ws, bs), r)) as tf.Scalar)([x, w, b]);
      for (const t of [y, ...grads]) outs.push((await t.data()) as Float32Array);
      tf.dispose([y, value, ...grads]);
      return [] as tf.Tensor[];
    });
    if (name !== 'cpu') profile.kernelNames.forEach((k) => kernels.add(k));
    tf.dispose([x, w, b, r]);
    return outs;
  };
  let worst = 0;
  let what = '';
  const names = ['y', 'dx', 'dW', 'db'];
  for (const c of cases) {
    const cpu = await run('cpu', c);
    const gpu = await run(backend, c);
    cpu.forEach((a, k) => {
      const scale = Math.max(1, ...a.map(Math.abs));
      const d = Math.max(...a.map((ai, i) => (Number.isFinite(gpu[k][i]) ? Math.abs(ai - gpu[k][i]) : Infinity))) / scale;
      if (d > worst || what === '') [worst, what] = [d, `${names[k]} of ${c.layer} x [${c.x}] weight [${c.w}]`];
    });
  }
  await startBackend(backend);
  const shapes = [[3, 4], [5], [2, 3, 1, 1], [129]];
  const rng = new Rng(9);
  const host = shapes.map((shape) => Float32Array.from(rng.normals(size(shape), 1)));
  const profile = await tf.profile(async () => {
    const flat = flatConcat(shapes.map((shape, i) => tf.tensor(host[i], shape)));
    const parts = flatSplit(flat, shapes);
    const back = await Promise.all(parts.map((p) => p.data()));
    tf.dispose([flat, ...parts]);
    return back.every((v, i) => v.length === host[i].length && v.every((e, j) => e === host[i][j]));
  });
  profile.kernelNames.forEach((k) => kernels.add(k));
  return { worst, what, flatExact: (profile.result as unknown as boolean) === true, kernels: [...kernels] };
}

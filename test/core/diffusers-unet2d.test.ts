/**
 * The diffusers-unet2d network type (diffusers' UNet2DModel) against PyTorch: test/torch/diffusers_reference.py
 * computes the same forward pass with torch.nn.functional (NCHW) from the same random weights and inputs, block by
 * block, and lists the state-dict names and shapes of each config, in one Python process for the whole file. Needs
 * Debian's PyTorch (/usr/bin/python3 with torch: apt-get install python3-torch); without it these tests FAIL.
 * Also: parameter counts, the config parsers and writer, the legacy attention names, finite-difference gradients on
 * cpu and wasm, and no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Network, bufferNames, initParams, parameterCount, paramShapes } from '../../src/core/nets';
import { DEFAULT_DIFFUSERS_UNET2D, type DiffusersUnet2dSpec, diffusersUnet2dTrace, renameLegacyAttention } from '../../src/core/nets/diffusers-unet2d';
import { describeNetwork } from '../../src/formats/network-types';
import type { HostTensor } from '../../src/core/nets/params';
import { Rng } from '../../src/core/rng';
import { parseConfig } from '../../src/formats/config';
import { diffusersConfigToSpec, specToDiffusersConfig } from '../../src/formats/diffusers-network';
import { useBackend } from '../helpers/backend';
import { expectNoLeak, randomHost, toNchw } from '../helpers/random-weights';
import { DIFFUSERS_GRAD_NET, EDM_FD, diffusersGradientCheck } from '../../scripts/webgpu-checks';

const PYTHON = '/usr/bin/python3';
const REFERENCE = join(__dirname, '..', 'torch', 'diffusers_reference.py');
/** max |TS - torch| / max |torch| of each block's output must stay under this (float32 round-off). */
const REL_TOLERANCE = 1e-4;

const net = (o: Partial<DiffusersUnet2dSpec>): DiffusersUnet2dSpec => ({
  ...DEFAULT_DIFFUSERS_UNET2D, sample_size: 8, in_channels: 3, out_channels: 3, block_out_channels: [8, 16], layers_per_block: 1,
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'], norm_num_groups: 4, ...o,
});

/** Tiny networks: every block type and option, each path at least once. */
const NETS: [string, DiffusersUnet2dSpec][] = [
  ['DownBlock2D + AttnDownBlock2D, 4 heads, downsample_padding 1, positional (flip, shift 0)', net({ attention_head_dim: 4 })],
  ['3 levels, 2 layers, downsample_padding 0, one head, class labels, center_input_sample, no flip, shift 1, mid scale sqrt 2', net({
    in_channels: 2, out_channels: 2, block_out_channels: [8, 8, 16], layers_per_block: 2, downsample_padding: 0, attention_head_dim: null,
    down_block_types: ['AttnDownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D', 'AttnUpBlock2D'],
    num_class_embeds: 5, center_input_sample: true, flip_sin_to_cos: false, freq_shift: 1, mid_block_scale_factor: Math.SQRT2, time_embedding_dim: 24,
  })],
  ['fourier, scale_shift (mid attention without GroupNorm), resnet down and up samplers, 1 head of 8 in 12 channels', net({
    in_channels: 1, out_channels: 1, block_out_channels: [12, 12], norm_num_groups: 3, attention_head_dim: 8, time_embedding_type: 'fourier',
    resnet_time_scale_shift: 'scale_shift', downsample_type: 'resnet', upsample_type: 'resnet',
    down_block_types: ['AttnDownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'AttnUpBlock2D'],
  })],
  ['no mid block, odd time channels (9), flip, shift 1', net({
    sample_size: 4, block_out_channels: [9, 6], norm_num_groups: 3, mid_block_type: null, freq_shift: 1,
    down_block_types: ['DownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'UpBlock2D'],
  })],
  ['one level, mid block without attention, no flip, shift 0', net({
    sample_size: 4, in_channels: 1, out_channels: 1, block_out_channels: [4], norm_num_groups: 2, add_attention: false, flip_sin_to_cos: false,
    down_block_types: ['DownBlock2D'], up_block_types: ['UpBlock2D'],
  })],
  ['one level of attention blocks, 4 heads, attn_norm_num_groups 2, scale_shift', net({
    sample_size: 4, block_out_channels: [8], attention_head_dim: 2, attn_norm_num_groups: 2, resnet_time_scale_shift: 'scale_shift',
    down_block_types: ['AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D'],
  })],
];

/** The diffusers "train a diffusion model" tutorial's UNet2DModel. */
const TUTORIAL = net({
  sample_size: 128, block_out_channels: [128, 128, 256, 256, 512, 512], layers_per_block: 2, norm_num_groups: 32, attention_head_dim: 8,
  down_block_types: ['DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D'],
});

/** google/ddpm-cifar10-32's unet/config.json (the DDPM paper's CIFAR-10 model, 35.7M parameters). */
const DDPM_CIFAR10_CONFIG = {
  _class_name: 'UNet2DModel', _diffusers_version: '0.0.4', act_fn: 'silu', attention_head_dim: null, block_out_channels: [128, 256, 256, 256],
  center_input_sample: false, down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'], downsample_padding: 0,
  flip_sin_to_cos: false, freq_shift: 1, in_channels: 3, layers_per_block: 2, mid_block_scale_factor: 1, norm_eps: 1e-6, norm_num_groups: 32,
  out_channels: 3, sample_size: 32, time_embedding_type: 'positional', up_block_types: ['UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
};

const shapeOf = (s: DiffusersUnet2dSpec) => [s.sample_size, s.sample_size, s.in_channels];

const hostOf = (t: tf.Tensor): HostTensor => (t.rank === 4
  ? { shape: [t.shape[0], t.shape[3]!, t.shape[1]!, t.shape[2]!], data: toNchw(t.dataSync() as Float32Array, t.shape) }
  : { shape: t.shape.slice(), data: (t.dataSync() as Float32Array).slice() });

interface Case { name: string; kind: 'unet2d' | 'shapes'; args: DiffusersUnet2dSpec; tensors: Map<string, HostTensor>; inputs: Map<string, HostTensor>; ours: Map<string, HostTensor> }
interface TorchOut { outputs: Map<string, HostTensor>; shapes: Map<string, [string, number[]][]> }

function runTorch(cases: Case[]): TorchOut {
  const dir = mkdtempSync(join(tmpdir(), 'diffusers-ref-'));
  try {
    const chunks: Float32Array[] = [];
    let offset = 0;
    const put = (t: HostTensor): [number, number[]] => {
      chunks.push(t.data);
      offset += t.data.length;
      return [offset - t.data.length, t.shape];
    };
    const index = cases.map((c) => ({
      name: c.name, kind: c.kind, args: c.args,
      tensors: Object.fromEntries([...c.tensors].map(([n, t]) => [n, put(t)])),
      inputs: Object.fromEntries([...c.inputs].map(([n, t]) => [n, put(t)])),
    }));
    const all = new Float32Array(offset);
    let at = 0;
    for (const ch of chunks) { all.set(ch, at); at += ch.length; }
    writeFileSync(join(dir, 'data.bin'), Buffer.from(all.buffer));
    writeFileSync(join(dir, 'cases.json'), JSON.stringify({ cases: index }));
    const r = spawnSync(PYTHON, [REFERENCE, dir], { encoding: 'utf8', timeout: 300_000 });
    if (r.error || r.status !== 0) {
      const why = r.error ? String(r.error) : r.stderr;
      if (/No module named 'torch'|ENOENT/.test(why)) {
        throw new Error(`${PYTHON} cannot import torch: install Debian's PyTorch (apt-get install python3-torch). ${why.trim().split('\n').pop()}`);
      }
      throw new Error(`${REFERENCE} failed: ${why}`);
    }
    const out = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as { outputs: Record<string, [number, number[]]>; shapes: Record<string, [string, number[]][]> };
    const buf = readFileSync(join(dir, 'out.bin'));
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    return {
      outputs: new Map(Object.entries(out.outputs).map(([name, [off, shape]]) => [name, { shape, data: data.slice(off, off + shape.reduce((a, b) => a * b, 1)) }])),
      shapes: new Map(Object.entries(out.shapes)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function networkCase(label: string, spec: DiffusersUnet2dSpec, seed: number): Case {
  const shape = shapeOf(spec);
  const tensors = randomHost(spec, shape, seed);
  const network = new Network(spec, shape, tensors, false);
  const rng = new Rng(seed + 2);
  const batch = 2;
  const size = shape.reduce((a, b) => a * b, 1);
  const x = { shape: [batch, ...shape], data: rng.normals(batch * size) };
  // DDPM timesteps for the positional embedding; noise levels (positive: the Fourier path takes their log) for Fourier
  const c = { shape: [batch], data: Float32Array.from(spec.time_embedding_type === 'fourier' ? [0.05, 3.7] : [17, 951.3]) };
  const inputs = new Map<string, HostTensor>([['x', { shape: [batch, shape[2], shape[0], shape[1]], data: toNchw(x.data, x.shape) }], ['c', c]]);
  let labels: tf.Tensor2D | undefined;
  if (spec.num_class_embeds) {
    const k = spec.num_class_embeds;
    const l = new Float32Array(batch * k);
    l[1] = 1;
    l[2 * k - 1] = 1;
    inputs.set('labels', { shape: [batch, k], data: l });
    labels = tf.tensor2d(l, [batch, k]);
  }
  const xt = tf.tensor(x.data, x.shape);
  const ct = tf.tensor1d(c.data);
  const ours = new Map<string, HostTensor>();
  const y = diffusersUnet2dTrace(spec, network.params, xt, ct, labels, (block, t) => ours.set(block, hostOf(t)));
  tf.dispose([xt, ct, y, ...(labels ? [labels] : [])]);
  network.dispose();
  return { name: label, kind: 'unet2d', args: spec, tensors, inputs, ours };
}

describe('diffusers UNet2DModel against PyTorch (test/torch/diffusers_reference.py)', () => {
  let torch: TorchOut;
  const cases: Case[] = [];

  beforeAll(async () => {
    await useBackend('cpu');
    cases.push(...NETS.map(([label, spec], i) => networkCase(label, spec, 20 + i)));
    cases.push({ name: 'tutorial', kind: 'shapes', args: TUTORIAL, tensors: new Map(), inputs: new Map(), ours: new Map() });
    const cifar = diffusersConfigToSpec(DDPM_CIFAR10_CONFIG, 'config.json').spec;
    cases.push({ name: 'ddpm-cifar10', kind: 'shapes', args: cifar, tensors: new Map(), inputs: new Map(), ours: new Map() });
    torch = runTorch(cases);
  }, 300_000);

  it.each(NETS.map(([label]) => label))('computes every block of %s as torch does', (label) => {
    const c = cases.find((k) => k.name === label)!;
    const blocks = [...c.ours.keys()];
    expect(blocks).toContain('out');
    const report: string[] = [];
    for (const block of blocks) {
      const ours = c.ours.get(block)!;
      const ref = torch.outputs.get(`${label}/${block}`);
      expect(ref, `${label}/${block}: torch recorded it`).toBeDefined();
      expect(ours.shape, `${label}/${block}: shape`).toEqual(ref!.shape);
      let diff = 0;
      let largest = 0;
      ref!.data.forEach((t, i) => {
        diff = Math.max(diff, Math.abs(t - ours.data[i]));
        largest = Math.max(largest, Math.abs(t));
      });
      report.push(`${block} ${diff.toExponential(2)} (max ${largest.toPrecision(3)})`);
      expect(largest, `${label}/${block}: not all zero`).toBeGreaterThan(1e-3);
      expect(diff / largest, `${label}/${block}: max |TS - torch| ${diff} relative to ${largest}`).toBeLessThan(REL_TOLERANCE);
    }
    const torchBlocks = [...torch.outputs.keys()].filter((k) => k.startsWith(`${label}/`)).map((k) => k.slice(label.length + 1));
    expect(blocks.sort()).toEqual(torchBlocks.sort());
    console.log(`${label}: max |TS - torch| per block: ${report.join(', ')}`);
  });

  it('has the state-dict names, shapes and order of the reference, for every network', () => {
    for (const c of cases) expect(paramShapes(c.args, shapeOf(c.args)), c.name).toEqual(torch.shapes.get(c.name));
  });

  it('counts the parameters of the tutorial UNet2DModel and of DDPM\'s CIFAR-10 model (35.7M)', () => {
    const count = (name: string) => torch.shapes.get(name)!.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
    const tutorial = parameterCount(TUTORIAL, shapeOf(TUTORIAL));
    expect(tutorial).toBe(count('tutorial'));
    const cifar = diffusersConfigToSpec(DDPM_CIFAR10_CONFIG, 'config.json');
    const n = parameterCount(cifar.spec, cifar.dataShape);
    expect(n).toBe(count('ddpm-cifar10'));
    expect(Math.abs(n - 35.7e6)).toBeLessThan(0.05e6);
    console.log(`parameters: tutorial UNet2DModel ${tutorial}, google/ddpm-cifar10-32 ${n}`);
  });
});

describe('diffusers-unet2d configs and names', () => {
  beforeAll(() => useBackend('cpu'));

  it('reads a diffusers config.json, writes it back, and names the network', () => {
    const { spec, dataShape, labelDim } = diffusersConfigToSpec(DDPM_CIFAR10_CONFIG, 'config.json');
    expect(dataShape).toEqual([32, 32, 3]);
    expect(labelDim).toBe(0);
    expect(spec).toMatchObject({ downsample_padding: 0, freq_shift: 1, flip_sin_to_cos: false, norm_eps: 1e-6, attention_head_dim: null, mid_block_type: 'UNetMidBlock2D' });
    const written = specToDiffusersConfig(spec);
    expect(written._class_name).toBe('UNet2DModel');
    for (const [k, v] of Object.entries(DDPM_CIFAR10_CONFIG)) if (!k.startsWith('_')) expect(written[k], k).toEqual(v);
    expect(diffusersConfigToSpec(JSON.parse(JSON.stringify(written)), 'c.json').spec).toEqual(spec);
    for (const [, s] of NETS) expect(diffusersConfigToSpec(specToDiffusersConfig(s), 'c.json').spec).toEqual(s);
    const conditional = diffusersConfigToSpec({ ...DDPM_CIFAR10_CONFIG, num_class_embeds: 10, num_train_timesteps: 1000, _name_or_path: 'x', something_new: 1 }, 'c.json');
    expect(conditional.labelDim).toBe(10);
    expect(conditional.spec.num_train_timesteps).toBe(1000);
    expect(describeNetwork(spec)).toBe('diffusers UNet2DModel');
    expect(diffusersConfigToSpec({ ...DDPM_CIFAR10_CONFIG, down_block_types: ['UNetResDownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'] }, 'c.json').spec.down_block_types[0]).toBe('DownBlock2D');
  });

  it('refuses what it does not read in one line naming it', () => {
    const fails = (o: Record<string, unknown>, re: RegExp) => {
      let message = '';
      try { diffusersConfigToSpec({ ...DDPM_CIFAR10_CONFIG, ...o }, 'unet/config.json'); } catch (e) { message = (e as Error).message; }
      expect(message).toMatch(re);
      expect(message).not.toContain('\n');
    };
    fails({ _class_name: 'UNet2DConditionModel' }, /^unet\/config.json: is the config of a diffusers "UNet2DConditionModel"; only UNet2DModel folders are read/);
    fails({ down_block_types: ['SkipDownBlock2D', 'AttnSkipDownBlock2D', 'DownBlock2D', 'DownBlock2D'] }, /"down_block_types" is a list with block types this version does not read: "SkipDownBlock2D", "AttnSkipDownBlock2D"/);
    fails({ up_block_types: ['UpBlock2D', 'UpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'] }, /"up_block_types" .*"CrossAttnUpBlock2D"/);
    fails({ act_fn: 'gelu' }, /"act_fn" must be "silu": other activations are not read \(got "gelu"\)/);
    fails({ class_embed_type: 'timestep' }, /"class_embed_type" must be null: other class embeddings are not read .*\(got "timestep"\)/);
    fails({ time_embedding_type: 'learned' }, /"time_embedding_type" must be "positional" or "fourier"/);
    fails({ sample_size: null }, /"sample_size" must be a positive integer/);
    fails({ downsample_padding: 2 }, /"downsample_padding" must be 0 or 1/);
    fails({ norm_num_groups: 48 }, /"norm_num_groups" must be a number of groups that divides every GroupNorm's channels/);
    fails({ attention_head_dim: 512 }, /"attention_head_dim" must be at most the channels of every attention: down_blocks.1.attentions.0 has 256 channels/);
    fails({ up_block_types: ['UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D'] }, /"up_block_types" must be a list of 4 block types/);
    fails({ sample_size: 36 }, /"block_out_channels" must be a list of at most as many levels as sample_size 36 allows/);
    fails({ out_channels: 6 }, /"out_channels" must be 3, the in_channels/);
    expect(() => diffusersConfigToSpec([], 'c.json')).toThrow(/must be a JSON object \(got an array\)/);
  });

  const config = (network: Record<string, unknown>, shape = [8, 8, 3], labelDim = 0) =>
    ({ format: 'pid-studio/1', role: 'teacher', name: 'ddpm', data: { shape, range: [-1, 1], ...(labelDim ? { label_dim: labelDim } : {}) }, network });

  it('parses pid_studio configs with diffusers defaults and one-line errors naming the field', () => {
    const parsed = parseConfig(config({ type: 'diffusers-unet2d', block_out_channels: [32, 64], down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'] }), 'm.json').network;
    expect(parsed).toEqual({ ...DEFAULT_DIFFUSERS_UNET2D, sample_size: 8, block_out_channels: [32, 64], down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'] });
    expect(parseConfig(config({ type: 'diffusers-unet2d' }, [32, 32, 3]), 'm.json').network).toEqual(DEFAULT_DIFFUSERS_UNET2D);
    for (const [, spec] of NETS) {
      expect(parseConfig(config({ ...spec }, shapeOf(spec), spec.num_class_embeds ?? 0), 'm.json').network).toEqual(spec);
    }
    const fails = (network: Record<string, unknown>, re: RegExp, shape?: number[], labelDim = 0) =>
      expect(() => parseConfig(config({ ...NETS[0][1], ...network }, shape, labelDim), 'm.json')).toThrow(re);
    fails({ sample_size: 16 }, /"network.sample_size" must be 8, the height and width of data.shape/);
    fails({ out_channels: 1 }, /"network.out_channels" must be 3/);
    fails({}, /"data.shape" must be three positive integers \[R, R, C\] with square images/, [8, 4, 3]);
    fails({ num_class_embeds: 4 }, /"network.num_class_embeds" must be null or absent, as data.label_dim is 0/);
    fails({}, /"network.num_class_embeds" must be 10, the data.label_dim of this config/, undefined, 10);
    fails({ resnet_time_scale_shift: 'spatial' }, /"network.resnet_time_scale_shift" must be "default" or "scale_shift"/);
    fails({ heads: 2 }, /"network.heads" is not a known field/);
  });

  it("renames old checkpoints' attention tensors as diffusers does", () => {
    const names = ['mid_block.attentions.0.query.weight', 'mid_block.attentions.0.proj_attn.bias', 'down_blocks.1.attentions.1.key.bias',
      'up_blocks.2.attentions.0.value.weight', 'mid_block.attentions.0.group_norm.weight', 'down_blocks.0.resnets.0.conv1.weight', 'query.weight'];
    expect([...renameLegacyAttention(names)]).toEqual([
      ['mid_block.attentions.0.query.weight', 'mid_block.attentions.0.to_q.weight'],
      ['mid_block.attentions.0.proj_attn.bias', 'mid_block.attentions.0.to_out.0.bias'],
      ['down_blocks.1.attentions.1.key.bias', 'down_blocks.1.attentions.1.to_k.bias'],
      ['up_blocks.2.attentions.0.value.weight', 'up_blocks.2.attentions.0.to_v.weight'],
    ]);
  });

  it('has diffusers state-dict names, the Fourier weight as a buffer', () => {
    const shapes = new Map(paramShapes(NETS[2][1], shapeOf(NETS[2][1])));
    for (const [name, shape] of [
      ['conv_in.weight', [12, 1, 3, 3]], ['time_proj.weight', [12]], ['time_embedding.linear_1.weight', [48, 24]],
      ['down_blocks.0.attentions.0.to_q.weight', [8, 12]], ['down_blocks.0.attentions.0.to_out.0.weight', [12, 8]],
      ['down_blocks.0.downsamplers.0.time_emb_proj.weight', [24, 48]], ['up_blocks.0.upsamplers.0.conv2.weight', [12, 12, 3, 3]],
      ['up_blocks.0.resnets.0.conv_shortcut.weight', [12, 24, 1, 1]], ['conv_norm_out.weight', [12]], ['conv_out.weight', [1, 12, 3, 3]],
    ] as [string, number[]][]) expect(shapes.get(name), name).toEqual(shape);
    expect(shapes.has('mid_block.attentions.0.group_norm.weight')).toBe(false);
    expect(bufferNames(NETS[2][1], shapeOf(NETS[2][1]))).toEqual(['time_proj.weight']);
    const padded = new Map(paramShapes(NETS[1][1], shapeOf(NETS[1][1])));
    expect(padded.get('down_blocks.0.downsamplers.0.conv.weight')).toEqual([8, 8, 3, 3]);
    expect(padded.get('class_embedding.weight')).toEqual([5, 24]);
  });

  it('fails clearly without class labels for a class-conditional network', () => {
    const spec = NETS[1][1];
    const n = new Network(spec, shapeOf(spec), initParams(spec, shapeOf(spec), new Rng(0)), false);
    expect(() => tf.tidy(() => n.apply(tf.zeros([1, ...shapeOf(spec)]), tf.tensor1d([3])))).toThrow(/class-conditional \(label_dim 5\)/);
    n.dispose();
  });

  it('leaks no tensors in a forward pass with its gradient (wasm)', async () => {
    await useBackend('wasm');
    for (const [, spec] of [NETS[1], NETS[2]]) {
      const shape = shapeOf(spec);
      const n = new Network(spec, shape, randomHost(spec, shape, 3), true);
      const x = tf.randomNormal([2, ...shape]);
      const c = tf.tensor1d([0.3, 2.8]);
      const labels = spec.num_class_embeds ? tf.oneHot([1, 3], spec.num_class_embeds).toFloat() as tf.Tensor2D : undefined;
      expectNoLeak(n, x, c, labels);
      tf.dispose([x, c, ...(labels ? [labels] : [])]);
      n.dispose();
    }
    await useBackend('cpu');
  });
});

describe('diffusers-unet2d gradients (central finite differences)', () => {
  afterAll(() => useBackend('cpu'));
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`backpropagates the tiny UNet2DModel correctly on ${backend}`, async () => {
      await useBackend(backend);
      const probes = await diffusersGradientCheck();
      expect(probes.length).toBe(3 * DIFFUSERS_GRAD_NET.names.length);
      const worst = Math.max(...probes.map((p) => p.error));
      console.log(`diffusers UNet2DModel on ${backend}: worst relative error ${worst.toExponential(2)} over ${probes.length} probes`);
      for (const p of probes) {
        expect(p.error, `${p.name}[${p.index}]: autodiff ${p.autodiff}, finite difference ${p.finiteDifference}`).toBeLessThan(EDM_FD.tolerance);
      }
      expect(probes.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(probes.length / 2);
    }, 240_000);
  }
});

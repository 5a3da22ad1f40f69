/**
 * The EDM network types (edm-songunet, edm-dhariwalunet) and their layers against PyTorch: test/torch/edm_reference.py
 * computes the same forward passes with torch.nn.functional (NCHW) from the same random weights and inputs, in one
 * Python process for the whole file. Needs Debian's PyTorch (/usr/bin/python3 with torch: apt-get install
 * python3-torch); without it these tests FAIL. Also: tensor names, the config parsers, architecture inference,
 * finite-difference gradients on cpu and wasm, and no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LearnedNetworkSpec, Network, bufferNames, initParams, parameterCount, paramShapes } from '../../src/core/nets';
import { DEFAULT_EDM_SONGUNET, type EdmSongUnetSpec } from '../../src/core/nets/edm-songunet';
import type { EdmDhariwalUnetSpec } from '../../src/core/nets/edm-dhariwalunet';
import { inferNetwork } from '../../src/core/nets/infer';
import { describeNetwork } from '../../src/formats/network-types';
import { edmAttention, edmBlock, edmConv2d, edmGroupNorm, fourierEmbedding, positionalEmbedding } from '../../src/core/nets/layers';
import type { HostTensor, Params } from '../../src/core/nets/params';
import { Rng } from '../../src/core/rng';
import { parseConfig } from '../../src/formats/config';
import type { EdmBlock } from '../../src/formats/edm-networks';
import { useBackend } from '../helpers/backend';
import { expectNoLeak, randomHost, toNchw } from '../helpers/random-weights';
import { EDM_FD, EDM_GRAD_NETS, edmGradientCheck } from '../../scripts/webgpu-checks';

const PYTHON = '/usr/bin/python3';
const REFERENCE = join(__dirname, '..', 'torch', 'edm_reference.py');
/** max |TS - torch| / max |torch| must stay under this (float32 round-off). */
const REL_TOLERANCE = 1e-4;

const song = (o: Partial<EdmSongUnetSpec>): EdmSongUnetSpec => ({
  ...DEFAULT_EDM_SONGUNET, dropout: 0, channel_mult: [1, 2], num_blocks: 1, ...o,
});
const adm = (o: Partial<EdmDhariwalUnetSpec>): EdmDhariwalUnetSpec => ({
  type: 'edm-dhariwalunet', img_resolution: 8, in_channels: 3, out_channels: 3, label_dim: 0, augment_dim: 0, model_channels: 16,
  channel_mult: [1, 2], channel_mult_emb: 4, num_blocks: 1, attn_resolutions: [4], dropout: 0, label_dropout: 0, ...o,
});

/** Tiny networks: every option train.py uses, each path at least once. */
const NETS: [string, EdmSongUnetSpec | EdmDhariwalUnetSpec][] = [
  ['DDPM++ (positional, standard, [1,1], attention)', song({ img_resolution: 16, in_channels: 3, out_channels: 3, model_channels: 16, channel_mult: [1, 2, 2], num_blocks: 2, attn_resolutions: [8] })],
  ['NCSN++ (fourier, residual encoder, [1,3,3,1], fused down)', song({
    img_resolution: 16, in_channels: 3, out_channels: 3, model_channels: 16, channel_mult: [1, 2, 2], attn_resolutions: [8],
    embedding_type: 'fourier', channel_mult_noise: 2, encoder_type: 'residual', resample_filter: [1, 3, 3, 1],
  })],
  ['skip encoder and skip decoder', song({
    img_resolution: 8, in_channels: 2, out_channels: 2, model_channels: 8, channel_mult: [1, 2, 1], attn_resolutions: [4],
    encoder_type: 'skip', decoder_type: 'skip', resample_filter: [1, 3, 3, 1], channel_mult_emb: 2,
  })],
  ['class-conditional DDPM++ with augment_dim', song({ img_resolution: 8, in_channels: 1, out_channels: 1, model_channels: 8, label_dim: 10, augment_dim: 9, attn_resolutions: [] })],
  ['DhariwalUNet, 1 and 2 heads, label_dim, augment_dim', adm({ model_channels: 64, attn_resolutions: [8, 4], label_dim: 5, augment_dim: 9 })],
  ['DhariwalUNet under 64 channels (no heads)', adm({ model_channels: 16, channel_mult: [1, 2, 2], num_blocks: 2, attn_resolutions: [4] })],
];

const shapeOf = (s: { img_resolution: number; in_channels: number }) => [s.img_resolution, s.img_resolution, s.in_channels];

/** One case for the Python side and the TS output to compare with its result. */
interface Case { name: string; kind: 'songunet' | 'dhariwalunet' | 'layer'; args: unknown; tensors: Map<string, HostTensor>; inputs: Map<string, HostTensor>; ours: HostTensor }

/** Runs edm_reference.py once on every case; returns torch's outputs by case name. */
function runTorch(cases: Case[]): Map<string, HostTensor> {
  const dir = process.env.EDM_DUMP_DIR ?? mkdtempSync(join(tmpdir(), 'edm-ref-'));
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
      ours: put(c.ours),
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
    const outIndex = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as Record<string, [number, number[]]>;
    const buf = readFileSync(join(dir, 'out.bin'));
    const out = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    return new Map(Object.entries(outIndex).map(([name, [off, shape]]) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return [name, { shape, data: out.slice(off, off + size) }];
    }));
  } finally {
    if (!process.env.EDM_DUMP_DIR) rmSync(dir, { recursive: true, force: true });
  }
}

const host = (t: tf.Tensor): HostTensor => ({ shape: t.shape.slice(), data: t.dataSync() as Float32Array });
const hostNchw = (t: tf.Tensor): HostTensor => {
  const [b, h, w, c] = t.shape;
  return { shape: [b, c, h, w], data: toNchw(t.dataSync() as Float32Array, t.shape) };
};
const normals = (rng: Rng, shape: number[], scale = 1): HostTensor => ({ shape, data: rng.normals(shape.reduce((a, b) => a * b, 1), scale) });

function networkCase(label: string, spec: EdmSongUnetSpec | EdmDhariwalUnetSpec, seed: number): Case {
  const shape = shapeOf(spec);
  const tensors = randomHost(spec, shape, seed);
  const net = new Network(spec, shape, tensors, false);
  const rng = new Rng(seed + 2);
  const batch = 2;
  const x = normals(rng, [batch, ...shape]);
  // EDM's c_noise = ln(sigma) / 4; 0.7 and 1.9 also stand in for VP / VE scales
  const c = { shape: [batch], data: Float32Array.from([-1.2, 1.9]) };
  const inputs = new Map<string, HostTensor>([['x', { shape: [batch, shape[2], shape[0], shape[1]], data: toNchw(x.data, x.shape) }], ['c', c]]);
  let labels: tf.Tensor2D | undefined;
  if (spec.label_dim) {
    const l = new Float32Array(batch * spec.label_dim);
    l[1] = 1;
    l[spec.label_dim + spec.label_dim - 1] = 1;
    inputs.set('labels', { shape: [batch, spec.label_dim], data: l });
    labels = tf.tensor2d(l, [batch, spec.label_dim]);
  }
  const xt = tf.tensor(x.data, x.shape);
  const ct = tf.tensor1d(c.data);
  const y = net.apply(xt, ct, labels);
  const ours = hostNchw(y);
  tf.dispose([xt, ct, y, ...(labels ? [labels] : [])]);
  net.dispose();
  const kind = spec.type === 'edm-songunet' ? 'songunet' : 'dhariwalunet';
  return { name: label, kind, args: spec, tensors, inputs, ours };
}

const resampleFilter = (f: number[]): HostTensor => {
  const s = f.reduce((a, b) => a + b, 0);
  return { shape: [1, 1, f.length, f.length], data: Float32Array.from(f.flatMap((a) => f.map((b) => (a * b) / (s * s)))) };
};

/** One layer on random weights: TS output of `run` and the case for Python. */
function layerCase(name: string, args: Record<string, unknown>, tensors: Map<string, HostTensor>, inputs: Map<string, HostTensor>,
  run: (p: Params, i: Map<string, tf.Tensor>) => tf.Tensor): Case {
  const p: Params = new Map([...tensors].map(([n, t]) => [n, tf.tensor(t.data, t.shape)]));
  const i = new Map([...inputs].map(([n, t]) => [n, tf.tensor(t.data, t.shape)]));
  const y = run(p, i);
  const ours = y.rank === 4 ? hostNchw(y) : host(y);
  tf.dispose([y, ...p.values(), ...i.values()]);
  const nchw = new Map([...inputs].map(([n, t]) => [n, t.shape.length === 4 ? { shape: [t.shape[0], t.shape[3], t.shape[1], t.shape[2]], data: toNchw(t.data, t.shape) } : t]));
  return { name, kind: 'layer', args, tensors: new Map([...tensors].map(([n, t]) => [`l.${n}`, t])), inputs: nchw, ours };
}

function layerCases(): Case[] {
  const rng = new Rng(77);
  const cases: Case[] = [];
  const x = (c: number, hw = 8) => normals(rng, [2, hw, hw, c]);
  const prefixed = (p: Params) => new Map([...p].map(([n, t]) => [`l.${n}`, t]));
  for (const f of [[1, 1], [1, 3, 3, 1]]) {
    for (const o of [{ up: true }, { down: true }, { down: true, fused: true }]) {
      for (const kernel of o.fused ? [3] : [0, 1, 3]) {
        const t = new Map<string, HostTensor>([['resample_filter', resampleFilter(f)]]);
        if (kernel) t.set('weight', normals(rng, [6, 4, kernel, kernel], 0.3)).set('bias', normals(rng, [6], 0.3));
        cases.push(layerCase(`conv k${kernel} ${JSON.stringify(o)} [${f}]`, { op: 'conv', ...o }, t, new Map([['x', x(4)]]),
          (p, i) => edmConv2d(prefixed(p), 'l', i.get('x') as tf.Tensor4D, o)));
      }
    }
  }
  const norm = (c: number) => new Map<string, HostTensor>([['weight', normals(rng, [c], 0.3)], ['bias', normals(rng, [c], 0.3)]]);
  for (const c of [24, 12]) {
    for (const eps of [1e-5, 1e-6]) {
      cases.push(layerCase(`groupnorm ${c} ${eps}`, { op: 'groupnorm', eps }, norm(c), new Map([['x', x(c, 4)]]),
        (p, i) => edmGroupNorm(prefixed(p), 'l', i.get('x') as tf.Tensor4D, eps)));
    }
  }
  for (const heads of [1, 3]) {
    const c = 12;
    const t = new Map<string, HostTensor>([...[...norm(c)].map(([n, v]) => [`norm2.${n}`, v] as [string, HostTensor]),
      ['qkv.weight', normals(rng, [3 * c, c, 1, 1], 0.4)], ['qkv.bias', normals(rng, [3 * c], 0.3)],
      ['proj.weight', normals(rng, [c, c, 1, 1], 0.3)], ['proj.bias', normals(rng, [c], 0.3)]]);
    cases.push(layerCase(`attention ${heads} heads`, { op: 'attention', heads, eps: 1e-6 }, t, new Map([['x', x(c, 4)]]),
      (p, i) => edmAttention(prefixed(p), 'l', i.get('x') as tf.Tensor4D, heads, 1e-6)));
  }
  const c = normals(rng, [5], 2);
  c.data[4] = 500; // a VP-sized c_noise
  for (const endpoint of [false, true]) {
    cases.push(layerCase(`positional endpoint ${endpoint}`, { op: 'positional', channels: 16, endpoint }, new Map(), new Map([['c', c]]),
      (_, i) => positionalEmbedding(i.get('c') as tf.Tensor1D, 16, 10000, endpoint)));
  }
  const cf = normals(rng, [4], 1);
  cases.push(layerCase('fourier', { op: 'fourier' }, new Map([['freqs', normals(rng, [8], 16)]]), new Map([['c', cf]]),
    (p, i) => fourierEmbedding(i.get('c') as tf.Tensor1D, p.get('freqs')!)));
  const blocks: [string, EdmBlock, number[]][] = [
    ['adaptive down', { inC: 8, outC: 8, up: false, down: true, heads: 0, adaptive: true, skipScale: 1, eps: 1e-5, skip: { inC: 8, outC: 8, kernel: 0, up: false, down: true, fused: false } }, [1, 1]],
    ['song up', { inC: 8, outC: 8, up: true, down: false, heads: 0, adaptive: false, skipScale: Math.SQRT1_2, eps: 1e-6, skip: { inC: 8, outC: 8, kernel: 1, up: true, down: false, fused: false } }, [1, 3, 3, 1]],
    ['song 2 heads', { inC: 8, outC: 16, up: false, down: false, heads: 2, adaptive: false, skipScale: Math.SQRT1_2, eps: 1e-6, skip: { inC: 8, outC: 16, kernel: 1, up: false, down: false, fused: false } }, [1, 1]],
  ];
  for (const [label, b, f] of blocks) {
    const t = new Map<string, HostTensor>();
    const conv = (n: string, o: number, i: number, k: number, filter: boolean) => {
      if (k) t.set(`${n}.weight`, normals(rng, [o, i, k, k], 1 / Math.sqrt(i * k * k))).set(`${n}.bias`, normals(rng, [o], 0.2));
      if (filter) t.set(`${n}.resample_filter`, resampleFilter(f));
    };
    const nrm = (n: string, ch: number) => t.set(`${n}.weight`, normals(rng, [ch], 0.3)).set(`${n}.bias`, normals(rng, [ch], 0.3));
    nrm('norm0', b.inC);
    conv('conv0', b.outC, b.inC, 3, b.up || b.down);
    t.set('affine.weight', normals(rng, [b.outC * (b.adaptive ? 2 : 1), 6], 0.4)).set('affine.bias', normals(rng, [b.outC * (b.adaptive ? 2 : 1)], 0.2));
    nrm('norm1', b.outC);
    conv('conv1', b.outC, b.outC, 3, false);
    if (b.skip) conv('skip', b.outC, b.inC, b.skip.kernel, b.up || b.down);
    if (b.heads) { nrm('norm2', b.outC); conv('qkv', 3 * b.outC, b.outC, 1, false); conv('proj', b.outC, b.outC, 1, false); }
    const block = { out: b.outC, up: b.up, down: b.down, heads: b.heads, adaptive: b.adaptive, skip_scale: b.skipScale, eps: b.eps };
    cases.push(layerCase(`block ${label}`, { op: 'block', block }, t, new Map([['x', x(b.inC)], ['emb', normals(rng, [2, 6])]]),
      (p, i) => edmBlock(prefixed(p), 'l', b, i.get('x') as tf.Tensor4D, i.get('emb') as tf.Tensor2D)));
  }
  return cases;
}

describe('EDM networks against PyTorch (test/torch/edm_reference.py)', () => {
  const results = new Map<string, { ours: HostTensor; torch: HostTensor }>();

  beforeAll(async () => {
    await useBackend('cpu');
    const cases = [...layerCases(), ...NETS.map(([label, spec], i) => networkCase(label, spec, 10 + i))];
    const torch = runTorch(cases);
    for (const c of cases) results.set(c.name, { ours: c.ours, torch: torch.get(c.name)! });
  }, 300_000);

  const compare = (name: string) => {
    const { ours, torch } = results.get(name)!;
    expect(ours.shape, `${name}: shape`).toEqual(torch.shape);
    let diff = 0;
    let largest = 0;
    torch.data.forEach((t, i) => {
      diff = Math.max(diff, Math.abs(t - ours.data[i]));
      largest = Math.max(largest, Math.abs(t));
    });
    console.log(`${name}: max |TS - torch| ${diff.toExponential(2)}, max |torch| ${largest.toPrecision(3)}`);
    expect(largest, `${name}: not all zero`).toBeGreaterThan(1e-3);
    expect(diff / largest, `${name}: max |TS - torch| ${diff} relative to ${largest}`).toBeLessThan(REL_TOLERANCE);
  };

  it('computes every layer as torch does (resampling with both filters, fused, GroupNorm, attention heads, embeddings, blocks)', () => {
    const names = [...results.keys()].filter((n) => !NETS.some(([label]) => label === n));
    expect(names.length).toBeGreaterThan(25);
    for (const name of names) compare(name);
  });

  it.each(NETS.map(([label]) => label))('computes %s as torch does', (label) => compare(label));
});

describe('EDM network types', () => {
  beforeAll(() => useBackend('cpu'));

  it('has EDM state-dict names, buffers included', () => {
    const ncsn = new Map(paramShapes(NETS[1][1], [16, 16, 3]));
    for (const [name, shape] of [
      ['map_noise.freqs', [16]], ['map_layer0.weight', [64, 32]], ['enc.16x16_conv.weight', [16, 3, 3, 3]],
      ['enc.8x8_down.conv0.resample_filter', [1, 1, 4, 4]], ['enc.8x8_down.skip.weight', [16, 16, 1, 1]],
      ['enc.8x8_aux_residual.weight', [16, 3, 3, 3]], ['enc.4x4_aux_residual.resample_filter', [1, 1, 4, 4]],
      ['enc.8x8_block0.qkv.weight', [96, 32, 1, 1]], ['dec.4x4_in0.proj.weight', [32, 32, 1, 1]],
      ['dec.8x8_up.conv0.resample_filter', [1, 1, 4, 4]], ['dec.16x16_aux_norm.weight', [16]], ['dec.16x16_aux_conv.weight', [3, 16, 3, 3]],
    ] as [string, number[]][]) expect(ncsn.get(name), name).toEqual(shape);
    expect(ncsn.has('dec.8x8_aux_conv.weight')).toBe(false); // standard decoder: output at level 0 only
    expect(bufferNames(NETS[1][1], [16, 16, 3])).toContain('map_noise.freqs');
    const admShapes = new Map(paramShapes(NETS[4][1], [8, 8, 3]));
    expect(admShapes.get('enc.4x4_down.skip.resample_filter')).toEqual([1, 1, 2, 2]);
    expect(admShapes.has('enc.4x4_down.skip.weight')).toBe(false); // weightless resampling skip
    expect(admShapes.get('map_label.weight')).toEqual([256, 5]);
    expect(admShapes.has('map_label.bias')).toBe(false);
    expect(admShapes.get('map_augment.weight')).toEqual([64, 9]);
    expect(admShapes.get('dec.4x4_block0.qkv.weight')).toEqual([384, 128, 1, 1]);
  });

  it('counts 55.7M parameters in the CIFAR-10 DDPM++ of train.py', () => {
    const cifar = song({ img_resolution: 32, in_channels: 3, out_channels: 3, model_channels: 128, channel_mult: [2, 2, 2], num_blocks: 4, attn_resolutions: [16], augment_dim: 9 });
    const n = parameterCount(cifar, [32, 32, 3]);
    expect(Math.abs(n - 55.7e6)).toBeLessThan(0.05e6);
  });

  it.each(NETS)('infers %s back from its tensor shapes', (_, spec) => {
    const shape = shapeOf(spec);
    const got = inferNetwork(new Map(paramShapes(spec, shape)));
    expect('problems' in got ? got.problems : '').toBe('');
    if ('problems' in got) return;
    expect(got.dataShape).toEqual(shape);
    expect(paramShapes(got.spec, got.dataShape)).toEqual(paramShapes(spec, shape));
    const strip = (s: LearnedNetworkSpec) => ({ ...s, dropout: 0, label_dropout: 0 });
    // ADM levels under 64 channels have no attention tensors, so their attn_resolutions cannot be told
    if (spec.type === 'edm-dhariwalunet' && spec.model_channels < 64) return;
    expect(strip(got.spec)).toEqual(strip(spec));
  });

  it('names expected and found keys when a state dict is no EDM network', () => {
    const junk = inferNetwork(new Map([['conv1.weight', [8, 3, 3, 3]], ['fc.bias', [10]]]));
    expect('problems' in junk && junk.problems).toMatch(/expected EDM SongUNet keys like 'map_layer0.weight'.*found 'conv1.weight', 'fc.bias'/);
    const shapes = new Map(paramShapes(NETS[0][1], [16, 16, 3]));
    shapes.delete('dec.8x8_block0.conv1.bias');
    shapes.set('enc.16x16_block0.conv0.weight', [16, 16, 5, 5]);
    const broken = inferNetwork(shapes);
    expect('problems' in broken && broken.problems).toMatch(/looks like an EDM SongUNet.*'enc.16x16_block0.conv0.weight' is \[16,16,5,5\].*missing 'dec.8x8_block0.conv1.bias'/);
  });

  it('describes the train.py architectures', () => {
    expect(describeNetwork(NETS[0][1])).toBe('EDM SongUNet (DDPM++)');
    expect(describeNetwork(NETS[1][1])).toBe('EDM SongUNet (NCSN++)');
    expect(describeNetwork(NETS[2][1])).toBe('EDM SongUNet (custom options)');
    expect(describeNetwork(NETS[4][1])).toBe('EDM DhariwalUNet (ADM)');
  });

  const config = (network: Record<string, unknown>, shape = [32, 32, 3]) =>
    ({ format: 'pid-studio/1', role: 'teacher', name: 'edm', data: { shape, range: [-1, 1] }, network });

  it('parses configs with EDM defaults and one-line errors naming the field', () => {
    const parsed = parseConfig(config({ type: 'edm-songunet', channel_mult: [2, 2, 2], augment_dim: 9 }), 'm.json').network;
    expect(parsed).toEqual({ ...DEFAULT_EDM_SONGUNET, channel_mult: [2, 2, 2], augment_dim: 9 });
    const ncsn = parseConfig(config({ type: 'edm-songunet', embedding_type: 'fourier', encoder_type: 'residual', resample_filter: [1, 3, 3, 1], channel_mult_noise: 2 }), 'm.json');
    expect(describeNetwork(ncsn.network as LearnedNetworkSpec)).toBe('EDM SongUNet (NCSN++)');
    const admDefaults = parseConfig(config({ type: 'edm-dhariwalunet' }, [64, 64, 3]), 'm.json').network;
    expect(admDefaults).toMatchObject({ model_channels: 192, channel_mult: [1, 2, 3, 4], num_blocks: 3, attn_resolutions: [32, 16, 8], img_resolution: 64 });
    for (const spec of NETS.map(([, s]) => s)) {
      expect(parseConfig(config({ ...spec }, shapeOf(spec)), 'm.json').network).toEqual(spec);
    }
    const fails = (network: Record<string, unknown>, re: RegExp, shape?: number[]) =>
      expect(() => parseConfig(config(network, shape), 'm.json')).toThrow(re);
    fails({ type: 'edm-songunet', encoder_type: 'fancy' }, /"network.encoder_type" must be one of "standard", "skip", "residual" \(got "fancy"\)/);
    fails({ type: 'edm-songunet', img_resolution: 64 }, /"network.img_resolution" must be 32, the height and width of data.shape/);
    fails({ type: 'edm-songunet', out_channels: 1 }, /"network.out_channels" must be 3/);
    fails({ type: 'edm-songunet' }, /"data.shape" must be three positive integers \[R, R, C\] with square images/, [32, 16, 3]);
    fails({ type: 'edm-songunet', resample_filter: [1, 2, 1] }, /"network.resample_filter" must be a resampling filter of 2 or 4/);
    fails({ type: 'edm-songunet', channel_mult: [1, 2, 2, 2, 2, 2, 2] }, /"network.channel_mult" must be a list of at most as many levels/);
    fails({ type: 'edm-songunet', model_channels: 36 }, /"network.model_channels" must be a width whose GroupNorms all work/);
    fails({ type: 'edm-dhariwalunet', model_channels: 224, channel_mult: [1], attn_resolutions: [] }, /"network.model_channels" must be a width whose attention heads split evenly: dec.32x32_in0 has 224 channels in 3 heads/, [32, 32, 3]);
    fails({ type: 'edm-dhariwalunet', heads: 2 }, /"network.heads" is not a known field/);
  });

  it('fails clearly without class labels for a class-conditional network', () => {
    const spec = NETS[3][1];
    const net = new Network(spec, shapeOf(spec), initParams(spec, shapeOf(spec), new Rng(0)), false);
    expect(() => tf.tidy(() => net.apply(tf.zeros([1, ...shapeOf(spec)]), tf.tensor1d([0])))).toThrow(/class-conditional \(label_dim 10\)/);
    net.dispose();
  });

  it('leaks no tensors in a forward pass with its gradient (wasm)', async () => {
    await useBackend('wasm');
    for (const [, spec] of [NETS[1], NETS[4]]) {
      const shape = shapeOf(spec);
      const net = new Network(spec, shape, randomHost(spec, shape, 3), true);
      const x = tf.randomNormal([2, ...shape]);
      const c = tf.tensor1d([0.3, -0.8]);
      const labels = spec.label_dim ? tf.oneHot([1, 3], spec.label_dim).toFloat() as tf.Tensor2D : undefined;
      expectNoLeak(net, x, c, labels);
      tf.dispose([x, c, ...(labels ? [labels] : [])]);
      net.dispose();
    }
    await useBackend('cpu');
  });
});

describe('EDM network gradients (central finite differences)', () => {
  afterAll(() => useBackend('cpu'));
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const which of Object.keys(EDM_GRAD_NETS) as (keyof typeof EDM_GRAD_NETS)[]) {
      it(`backpropagates the tiny ${which} correctly on ${backend}`, async () => {
        await useBackend(backend);
        const probes = await edmGradientCheck(which);
        expect(probes.length).toBeGreaterThan(20);
        const worst = Math.max(...probes.map((p) => p.error));
        console.log(`${which} on ${backend}: worst relative error ${worst.toExponential(2)} over ${probes.length} probes`);
        for (const p of probes) {
          expect(p.error, `${p.name}[${p.index}]: autodiff ${p.autodiff}, finite difference ${p.finiteDifference}`).toBeLessThan(EDM_FD.tolerance);
        }
        expect(probes.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(probes.length / 2);
      }, 240_000);
    }
  }
});

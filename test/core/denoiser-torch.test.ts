/**
 * D(x, sigma) of imported EDM networks under every preconditioning (EDM, VP, VE), class-conditional included,
 * against PyTorch: the same .pt state dict is read here (readAnyModel, as the CLI and the studio read it) and by
 * test/torch/denoiser_reference.py (torch.load + torch.nn.functional), at sigma 0.002, 0.07, 2.5 and 80, on cpu and
 * wasm (webgpu: test/cli/webgpu-node.test.ts runs the network checks through Dawn). Needs /usr/bin/python3 with torch.
 */
import { releaseLayerConstants } from '../../src/core/nets/layers';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrecondType, readAnyModel } from '../../src/core/model-import';
import { loadTeacher } from '../../src/core/models';
import type { LearnedNetworkSpec } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import type { EdmDhariwalUnetNetwork, EdmSongUnetNetwork } from '../../src/formats/edm-networks';
import { writeTorchStateDict } from '../../src/formats/torch-file';
import { useBackend } from '../helpers/backend';
import { nestedNchw, randomHost, worstPerSample } from '../helpers/random-weights';

const SIGMAS = [0.002, 0.07, 2.5, 80];
const PRECONDS: PrecondType[] = ['edm', 'vp', 've'];
const base = { img_resolution: 8, in_channels: 3, out_channels: 3, augment_dim: 0, channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, dropout: 0, label_dropout: 0 };
const NETS: [string, EdmSongUnetNetwork | EdmDhariwalUnetNetwork][] = [
  ['DDPM++', { ...base, type: 'edm-songunet', label_dim: 0, augment_dim: 9, model_channels: 8, attn_resolutions: [4], embedding_type: 'positional', channel_mult_noise: 1, encoder_type: 'standard', decoder_type: 'standard', resample_filter: [1, 1] }],
  ['NCSN++ conditional', { ...base, type: 'edm-songunet', label_dim: 3, model_channels: 8, attn_resolutions: [4], embedding_type: 'fourier', channel_mult_noise: 2, encoder_type: 'residual', decoder_type: 'standard', resample_filter: [1, 3, 3, 1] }],
  ['ADM conditional', { ...base, type: 'edm-dhariwalunet', label_dim: 4, augment_dim: 9, model_channels: 16, attn_resolutions: [4] }],
];
/** max |ours - torch| must stay under this times max |D_torch| (float32 round-off through a network). */
const TOLERANCE = 2e-5;

const dir = mkdtempSync(join(tmpdir(), 'pid-denoise-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Random weights on a trained network's scale as EDMPrecond's state dict ("model." keys). */
const randomWeights = (spec: LearnedNetworkSpec, seed: number) => new Map([...randomHost(spec, [8, 8, 3], seed)].map(([name, t]) => [`model.${name}`, t]));

const rng = new Rng(7);
const x = SIGMAS.map((s) => Array.from({ length: 8 * 8 * 3 }, () => rng.normal() * Math.sqrt(0.25 + s * s)));
const oneHot = (dim: number) => SIGMAS.map((_, i) => Array.from({ length: dim }, (_, k) => (k === (2 * i + 1) % dim ? 1 : 0)));

interface Result { name: string; file: string; spec: LearnedNetworkSpec; precond: PrecondType; labelDim: number; torch: number[][][][] }
let results: Result[] = [];

beforeAll(() => {
  const cases = NETS.flatMap(([name, spec], n) => {
    const file = join(dir, `net${n}.pt`);
    writeFileSync(file, writeTorchStateDict(randomWeights(spec, 10 + n)));
    return PRECONDS.map((precond) => ({ name: `${name} ${precond}`, file, spec, precond, labelDim: spec.label_dim }));
  });
  const precondArgs = { edm: { type: 'edm' }, vp: { type: 'vp', beta_d: 19.9, beta_min: 0.1, M: 1000 }, ve: { type: 've' } };
  writeFileSync(join(dir, 'cases.json'), JSON.stringify({
    cases: cases.map((c) => ({
      name: c.name, pt: c.file, kind: c.spec.type, spec: c.spec, precond: precondArgs[c.precond],
      x: x.map((s) => nestedNchw(s, [8, 8, 3])), sigma: SIGMAS, labels: c.labelDim ? oneHot(c.labelDim) : null,
    })),
  }));
  const r = spawnSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'torch', 'denoiser_reference.py'), dir], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  if (r.error || r.status !== 0) {
    throw new Error(`/usr/bin/python3 with torch is needed (install Debian's python3-torch, as CI does): ${r.error ?? r.stderr}`);
  }
  const out = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as Record<string, number[][][][]>;
  results = cases.map((c) => ({ ...c, torch: out[c.name] }));
});

describe.each(['cpu', 'wasm'] as const)('D(x, sigma) of .pt teachers against PyTorch on %s', (backend) => {
  it('matches at sigma 0.002, 0.07, 2.5, 80 for every network and precond', async () => {
    await useBackend(backend);
    const before = tf.memory().numTensors;
    const lines: string[] = [];
    const checks: (readonly [string, number, number])[] = [];
    for (const c of results) {
      const model = await readAnyModel([{ name: c.file, bytes: new Uint8Array(readFileSync(c.file)) }], { precond: c.precond });
      expect(model.config.network.type).toBe(c.spec.type);
      expect(model.config.data.label_dim ?? 0).toBe(c.labelDim);
      const teacher = loadTeacher(model);
      const d = tf.tidy(() => teacher.denoiser.denoise(
        tf.tensor(x.flat(), [4, 8, 8, 3]), tf.tensor1d(SIGMAS), c.labelDim ? tf.tensor2d(oneHot(c.labelDim)) : undefined,
      ));
      const ours = (await d.data()) as Float32Array;
      d.dispose();
      teacher.dispose();
      const worst = worstPerSample(ours, c.torch, [8, 8, 3]);
      lines.push(`${c.name}: max |D - D_torch| ${worst.map((w) => w.diff.toExponential(1)).join(' / ')} (max |D| ${worst.map((w) => w.scale.toFixed(2)).join(' / ')})`);
      checks.push(...worst.map((w, i) => [`${c.name} at sigma ${SIGMAS[i]}`, w.diff, TOLERANCE * Math.max(1, w.scale)] as const));
    }
    console.log(`${backend}, sigma ${SIGMAS.join(' / ')}:\n  ${lines.join('\n  ')}`);
    for (const [what, diff, bound] of checks) expect(diff, what).toBeLessThan(bound);
    releaseLayerConstants(); // GroupNorm's kept matrices, one per channel count
    expect(tf.memory().numTensors).toBe(before);
    // the references differ between preconds, so a wrong precond cannot pass
    const edm = results[0].torch[2][0][0][0];
    const vp = results[1].torch[2][0][0][0];
    expect(Math.abs(edm - vp)).toBeGreaterThan(1e-3);
  });
});

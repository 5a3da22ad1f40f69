import * as tf from '@tensorflow/tfjs-core';
import '../../src/core/gradients';
import { describe, expect, it } from 'vitest';
import { edmDenoiser } from '../../src/core/edm';
import { loadTeacher } from '../../src/core/models';
import { Network, initParams, parameterCount, paramShapes, tensorProblems } from '../../src/core/nets';
import type { UnetSpec } from '../../src/core/nets/unet';
import { PidTrainer } from '../../src/core/pid';
import { Rng } from '../../src/core/rng';
import { DEFAULT_EDM, type PidStudioConfig } from '../../src/formats/config';
import { readModelFile, writeModelFile } from '../../src/formats/model-file';
import { useBackend } from '../helpers/backend';
import { UNET_FD, cNoise, randomNetwork, unetGradientCheck } from '../../scripts/webgpu-checks';

/** Two levels (14x14, 7x7), attention at 7x7: every kind of layer, a few thousand parameters. */
const tiny: UnetSpec = {
  type: 'unet', channels: 4, channel_mult: [1, 2], blocks_per_level: 1, attn_resolutions: [7], emb_dim: 8, emb_max_freq: 4, groups: 2,
};

describe('unet network', () => {
  it('has PyTorch-style names and layouts (Conv2d [out, in, kh, kw], Linear [out, in], GroupNorm [C])', () => {
    const shapes = new Map(paramShapes(tiny, [14, 14, 1]));
    const expected: [string, number[]][] = [
      ['map_layer0.weight', [8, 8]],
      ['map_layer1.bias', [8]],
      ['enc.14x14_conv.weight', [4, 1, 3, 3]],
      ['enc.14x14_block0.norm0.weight', [4]],
      ['enc.14x14_block0.conv0.weight', [4, 4, 3, 3]],
      ['enc.14x14_block0.affine.weight', [8, 8]],
      ['enc.7x7_block0.conv0.weight', [8, 4, 3, 3]],
      ['enc.7x7_block0.skip.weight', [8, 4, 1, 1]],
      ['enc.7x7_block0.qkv.weight', [24, 8, 1, 1]],
      ['enc.7x7_block0.proj.weight', [8, 8, 1, 1]],
      ['dec.7x7_in0.norm2.bias', [8]],
      ['dec.7x7_block0.conv0.weight', [8, 16, 3, 3]],
      ['dec.7x7_block0.skip.weight', [8, 16, 1, 1]],
      ['dec.14x14_block0.norm0.weight', [12]],
      ['dec.14x14_block0.conv1.weight', [4, 4, 3, 3]],
      ['out_norm.weight', [4]],
      ['out_conv.weight', [1, 4, 3, 3]],
      ['out_conv.bias', [1]],
    ];
    for (const [name, shape] of expected) expect(shapes.get(name), name).toEqual(shape);
    expect(shapes.has('enc.14x14_block0.skip.weight')).toBe(false); // 4 -> 4 channels: identity skip
    expect(shapes.has('enc.14x14_block0.qkv.weight')).toBe(false); // no attention at 14x14
    // map 2 x 72, conv_in 40, enc14 384, enc7 1392, dec7 in0 1648, dec7 block0 2376, dec14 740, out 8 + 37 (by hand)
    expect(parameterCount(tiny, [14, 14, 1])).toBe(144 + 40 + 384 + 1392 + 1648 + 2376 + 740 + 45);
  });

  it('reports missing, misshapen and unexpected tensors', () => {
    const tensors = new Map(paramShapes(tiny, [14, 14, 1]).map(([n, s]) => [n, { shape: s }]));
    expect(tensorProblems(tiny, [14, 14, 1], tensors)).toEqual([]);
    tensors.delete('dec.7x7_in0.qkv.bias');
    tensors.set('enc.14x14_conv.weight', { shape: [4, 1, 5, 5] });
    tensors.set('mid.attn.weight', { shape: [1] });
    const problems = tensorProblems(tiny, [14, 14, 1], tensors).join('\n');
    expect(problems).toMatch(/missing tensor 'dec.7x7_in0.qkv.bias' \(shape \[24\]\)/);
    expect(problems).toMatch(/'enc.14x14_conv.weight' has shape \[4,1,5,5\], expected \[4,1,3,3\]/);
    expect(problems).toMatch(/unexpected tensor 'mid.attn.weight'/);
  });

  it.each<[number[], UnetSpec]>([
    [[14, 14, 1], tiny],
    [[28, 28, 1], { ...tiny, channel_mult: [1, 2, 2] }],
    [[8, 12, 3], { ...tiny, attn_resolutions: [4], blocks_per_level: 2 }],
  ])('starts at F = 0 and keeps the shape %j', async (shape, spec) => {
    await useBackend('cpu');
    const net = new Network(spec, shape, initParams(spec, shape, new Rng(0)), false);
    const out = tf.tidy(() => net.apply(tf.randomNormal([3, ...shape]), cNoise(3)));
    expect(out.shape).toEqual([3, ...shape]);
    expect(Array.from(out.dataSync()).every((v) => v === 0)).toBe(true);
    out.dispose();
    net.dispose();
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`backpropagates correctly on ${backend} (central finite differences)`, async () => {
      await useBackend(backend);
      // the check the GPU backends run too (scripts/webgpu-checks.ts); worst relative error seen 2e-4 (cpu), 6e-4 (wasm)
      const probes = await unetGradientCheck();
      expect(probes).toHaveLength(36);
      for (const p of probes) {
        expect(p.error, `${p.name}[${p.index}]: autodiff ${p.autodiff}, finite difference ${p.finiteDifference}`).toBeLessThan(UNET_FD.tolerance);
      }
    });
  }

  it('survives a safetensors round trip: write, read, load as a teacher, same outputs', async () => {
    await useBackend('cpu');
    const shape = [14, 14, 1];
    const net = randomNetwork(tiny, shape, 7, false, 0.2);
    const config: PidStudioConfig = {
      format: 'pid-studio/1', role: 'teacher', name: 'tiny unet', data: { shape, range: [-1, 1] }, edm: { ...DEFAULT_EDM }, network: tiny,
    };
    const host = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, t] of net.params) host.set(name, { shape: t.shape.slice(), data: t.dataSync() as Float32Array });
    const bytes = writeModelFile(config, host);
    const model = await readModelFile([{ name: 'tiny-unet.safetensors', bytes }]);
    expect(model.config.network).toEqual(tiny);
    const teacher = loadTeacher(model);
    const x = tf.tensor(new Rng(8).normals(2 * 196), [2, ...shape]);
    const c = cNoise(2);
    const want = net.apply(x, c).dataSync();
    const got = teacher.network!.apply(x, c).dataSync();
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(want.some((v) => v !== 0)).toBe(true);
    teacher.dispose();
    net.dispose();
  });

  it('keeps tf.memory().numTensors flat over PID training steps (wasm)', async () => {
    await useBackend('wasm');
    const shape = [8, 8, 1];
    const spec: UnetSpec = { ...tiny, attn_resolutions: [4] };
    const teacherNet = randomNetwork(spec, shape, 9, false, 0.1);
    const student = new Network(spec, shape, initParams(spec, shape, new Rng(10)), true);
    const trainer = new PidTrainer({
      teacher: edmDenoiser(teacherNet.apply, DEFAULT_EDM.sigma_data),
      student,
      edm: DEFAULT_EDM,
      settings: { N: 20, loss: 'l2', optimizer: 'radam', lr: 1e-3, batch: 4, ema: 0.99, seed: 0 },
    });
    const first = await trainer.trainStep();
    const tensors = tf.memory().numTensors;
    const losses = [first.loss];
    for (let i = 0; i < 3; i++) losses.push((await trainer.trainStep()).loss);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(losses.every(Number.isFinite)).toBe(true);
    trainer.dispose();
    student.dispose();
    teacherNet.dispose();
  });
});

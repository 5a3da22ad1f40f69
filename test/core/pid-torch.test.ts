/**
 * The PID loss and gradient of torch/train.py (torch/pid_torch.py) against the TypeScript engine's
 * (src/core/pid.ts pidLossOfStudent, what PidTrainer differentiates) on one fixed batch written here: equal to float32
 * round-off, for the network types mlp and unet (the studio's teachers), edm-songunet (DDPM++ and NCSN++),
 * edm-dhariwalunet and diffusers-unet2d (tiny ones with random weights on a trained network's scale, written here as
 * pid-studio files; ddpm-eps and vp preconditioning; class-conditional ones with one-hot labels), and the analytic
 * gaussian-mixture teacher with the default MLP student. Needs /usr/bin/python3 with torch (Debian's python3-torch);
 * skipped, saying so, without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karrasSigmas } from '../../src/core/edm';
import { networkWithLabels } from '../../src/core/edm';
import { oneHotLabels } from '../../src/core/labels';
import { defaultStudentSpec, loadTeacher } from '../../src/core/models';
import { Network, initParams } from '../../src/core/nets';
import { drawGridPairs, pidLossOfStudent } from '../../src/core/pid';
import { Rng } from '../../src/core/rng';
import type { LossName } from '../../src/core/pid-settings';
import { readModelFile } from '../../src/formats/model-file';
import type { PrecondSpec } from '../../src/formats/config';
import { DIFFUSERS_UNET2D_DEFAULTS, type DiffusersUnet2dNetwork } from '../../src/formats/diffusers-network';
import { EDM_DHARIWALUNET_DEFAULTS, EDM_SONGUNET_DEFAULTS, type EdmDhariwalUnetNetwork, type EdmSongUnetNetwork } from '../../src/formats/edm-networks';
import { writeSafetensors } from '../../src/formats/safetensors';
import { useBackend } from '../helpers/backend';
import { randomHost } from '../helpers/random-weights';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`pid-torch.test.ts skipped: ${PYTHON} cannot import torch and numpy (install Debian's python3-torch)`);
const SCRIPT = fileURLToPath(new URL('../torch/pid_loss_grad.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pid-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sized = { img_resolution: 8, in_channels: 3, out_channels: 3, label_dim: 0, augment_dim: 0, dropout: 0 };
const diffusers = { ...DIFFUSERS_UNET2D_DEFAULTS, type: 'diffusers-unet2d' as const, sample_size: 8, in_channels: 3, out_channels: 3, layers_per_block: 1, norm_num_groups: 4 };
const DDPM: PrecondSpec = { type: 'ddpm-eps', num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' };
const VP: PrecondSpec = { type: 'vp', beta_d: 19.9, beta_min: 0.1, M: 1000, epsilon_t: 1e-5 };
type ImageNet = EdmSongUnetNetwork | EdmDhariwalUnetNetwork | DiffusersUnet2dNetwork;
/** Tiny image networks on 8x8x3 with attention at 4x4: DDPM++ (positional, standard, [1, 1]), NCSN++ (Fourier,
 * residual encoder, skip decoder, [1, 3, 3, 1]), a SongUNet with the skip encoder on 3 levels, ADM (64 channels at
 * 4x4: one head), a class-conditional DDPM++ (3 classes); diffusers' UNet2DModel as a DDPM epsilon model (positional,
 * 4 heads of 4 channels, conv resampling) and as a class-conditional VP one (Fourier time projection, scale-shift,
 * resnet resampling, right-bottom padding, centred input, one head, mid scale sqrt 2, 3 classes). */
const IMAGE_TEACHERS: Record<string, { network: ImageNet; precond?: PrecondSpec; labels?: number; sigmaMin?: number }> = {
  'ddpmpp-tiny': { network: { ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', ...sized, model_channels: 8, channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4] } },
  'ncsnpp-tiny': { network: {
    ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', ...sized, model_channels: 8, channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4],
    embedding_type: 'fourier', channel_mult_noise: 2, encoder_type: 'residual', decoder_type: 'skip', resample_filter: [1, 3, 3, 1],
  } },
  'songunet-skip-tiny': { network: {
    ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', ...sized, model_channels: 8, channel_mult: [1, 1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [2],
    encoder_type: 'skip', resample_filter: [1, 3, 3, 1],
  } },
  'adm-tiny': { network: { ...EDM_DHARIWALUNET_DEFAULTS, type: 'edm-dhariwalunet', ...sized, model_channels: 16, channel_mult: [1, 4], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4] } },
  'ddpmpp-cond-tiny': {
    network: { ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', ...sized, label_dim: 3, model_channels: 8, channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4] },
    labels: 3,
  },
  'diffusers-ddpm-tiny': {
    network: { ...diffusers, block_out_channels: [8, 16], down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'], attention_head_dim: 4 },
    precond: DDPM,
  },
  'diffusers-cond-tiny': {
    network: {
      ...diffusers, block_out_channels: [8, 16], down_block_types: ['AttnDownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'AttnUpBlock2D'],
      attention_head_dim: null, time_embedding_type: 'fourier', resnet_time_scale_shift: 'scale_shift', downsample_type: 'resnet', upsample_type: 'resnet',
      downsample_padding: 0, center_input_sample: true, mid_block_scale_factor: Math.SQRT2, num_class_embeds: 3,
    },
    // VPPrecond's c_noise rounds ln(1 + sigma^2) in float32 (as EDM does): near sigma 0.002 that alone is a 1 %
    // error against float64, which would loosen the tolerance below; from sigma 0.2 it is 1e-6
    precond: VP, labels: 3, sigmaMin: 0.2,
  },
};

/** A studio teacher's file, or a tiny image teacher written into the temporary folder. */
function teacherPath(name: string): string {
  const t = IMAGE_TEACHERS[name];
  if (!t) return fileURLToPath(new URL(`../../public/teachers/${name}.safetensors`, import.meta.url));
  const path = join(dir, `${name}.safetensors`);
  const shape = [8, 8, 3];
  const config = {
    format: 'pid-studio/1', role: 'teacher', name, data: { shape, range: [-1, 1], ...(t.labels ? { label_dim: t.labels } : {}) },
    edm: { sigma_data: 0.5, sigma_min: t.sigmaMin ?? 0.002, sigma_max: 80, rho: 7 }, network: t.network, ...(t.precond ? { precond: t.precond } : {}),
  };
  writeFileSync(path, writeSafetensors(randomHost(t.network, shape, 5), { pid_studio: JSON.stringify(config) }));
  return path;
}

const CASES: { teacher: string; batch: number; N: number; loss: LossName }[] = [
  { teacher: 'moons-mlp', batch: 64, N: 250, loss: 'l2' },
  { teacher: 'moons-mlp', batch: 32, N: 40, loss: 'pseudo-huber' },
  { teacher: 'mnist14-unet', batch: 2, N: 250, loss: 'l2' },
  { teacher: 'ddpmpp-tiny', batch: 2, N: 250, loss: 'l2' },
  { teacher: 'ncsnpp-tiny', batch: 2, N: 40, loss: 'pseudo-huber' },
  { teacher: 'songunet-skip-tiny', batch: 2, N: 40, loss: 'l1' },
  { teacher: 'adm-tiny', batch: 2, N: 250, loss: 'l2' },
  { teacher: 'ddpmpp-cond-tiny', batch: 3, N: 40, loss: 'l2' },
  { teacher: 'diffusers-ddpm-tiny', batch: 2, N: 250, loss: 'l2' },
  { teacher: 'diffusers-cond-tiny', batch: 3, N: 40, loss: 'pseudo-huber' },
  { teacher: 'uneven3', batch: 64, N: 250, loss: 'l2' },
];

describe.skipIf(!hasTorch)('PID loss and gradient: PyTorch (torch/pid_torch.py) against TypeScript (pid.ts)', () => {
  beforeAll(() => useBackend('cpu'));
  for (const c of CASES) {
    it(`${c.teacher}, batch ${c.batch}, N ${c.N}, ${c.loss}: the same loss and gradient to float32 round-off`, async () => {
      const path = teacherPath(c.teacher);
      const model = await readModelFile([{ name: path, bytes: new Uint8Array(readFileSync(path)) }]);
      const teacher = loadTeacher(model);
      const { edm, data } = model.config;
      const dim = data.shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(11);
      const z = rng.normals(c.batch * dim, edm.sigma_max);
      const [n, nNext] = drawGridPairs(rng, c.N, c.batch);
      const grid = karrasSigmas(c.N, edm.sigma_min, edm.sigma_max, edm.rho);
      const name = `${c.teacher}-${c.loss}`;
      // a class-conditional teacher: classes drawn as PidTrainer draws them, one-hot, to teacher and student
      const labels = teacher.labelDim ? oneHotLabels(Array.from({ length: c.batch }, () => rng.int(teacher.labelDim)), teacher.labelDim) : undefined;
      writeFileSync(join(dir, `${name}-batch.safetensors`), writeSafetensors(new Map([
        ['z', { shape: [c.batch, ...data.shape], data: z }],
        ['n', { shape: [c.batch], data: Float32Array.from(n) }],
        ['n_next', { shape: [c.batch], data: Float32Array.from(nNext) }],
        ...(labels ? [['labels', { shape: labels.shape, data: labels.dataSync() as Float32Array }] as const] : []),
      ]), { N: String(c.N), loss: c.loss }));

      // the student: the teacher's network at its weights; for an analytic teacher the default student (an MLP) at
      // a fresh initialisation, written for the script as export-run writes student-init.safetensors
      const studentArgs: string[] = [];
      let student: Network;
      if (teacher.network) {
        student = new Network(teacher.network.spec, data.shape, teacher.weights!, true);
      } else {
        const spec = defaultStudentSpec(model.config);
        const init = initParams(spec, data.shape, new Rng(3));
        writeFileSync(join(dir, `${name}-student.safetensors`), writeSafetensors(init, { pid_studio_network: JSON.stringify(spec) }));
        studentArgs.push(join(dir, `${name}-student.safetensors`));
        student = new Network(spec, data.shape, init, true);
      }
      // EDM's buffers (resample filters, Fourier frequencies) are constants, not variables: no gradient either side
      const trained = [...student.params].filter(([, v]) => v instanceof tf.Variable) as [string, tf.Variable][];
      const batch = { z, dataShape: data.shape, t: Array.from(n, (i) => grid[i]), tNext: Array.from(nNext, (i) => grid[i]) };
      const { value, grads } = tf.tidy(() => {
        const lossOf = pidLossOfStudent(networkWithLabels(student.apply, labels), (y, t) => teacher.denoiser.denoise(y, t, labels), edm, c.loss, batch, teacher.precond);
        return tf.variableGrads(lossOf, trained.map(([, v]) => v));
      });
      const tsLoss = (await value.data())[0];
      const tsGrad = new Map<string, Float32Array>();
      for (const [param, v] of trained) tsGrad.set(param, (await grads[v.name].data()) as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
      student.dispose();
      teacher.dispose();
      labels?.dispose();

      const r = spawnSync(PYTHON, [SCRIPT, path, join(dir, `${name}-batch.safetensors`), join(dir, `${name}-out.json`), ...studentArgs], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
      expect(r.status, r.stderr).toBe(0);
      const torchOut: { loss: number; grad: Record<string, number[]>; loss64: number; grad64: Record<string, number[]> } =
        JSON.parse(readFileSync(join(dir, `${name}-out.json`), 'utf8'));
      expect(Object.keys(torchOut.grad).sort()).toEqual([...tsGrad.keys()].sort());
      /** Relative differences of a loss and gradient from torch's float32 ones: the loss, the gradient's l2 and max. */
      const against = (loss: number, grad: (param: string) => ArrayLike<number>) => {
        let maxDiff = 0;
        let maxAbs = 0;
        let sq = 0;
        let sqDiff = 0;
        for (const param of tsGrad.keys()) {
          const g = grad(param);
          const t = torchOut.grad[param];
          expect(t.length).toBe(g.length);
          for (let i = 0; i < g.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(g[i] - t[i]));
            maxAbs = Math.max(maxAbs, Math.abs(t[i]));
            sq += t[i] * t[i];
            sqDiff += (g[i] - t[i]) ** 2;
          }
        }
        return { loss: Math.abs(loss - torchOut.loss) / Math.abs(torchOut.loss), l2: Math.sqrt(sqDiff / sq), max: maxDiff / maxAbs };
      };
      const ts = against(tsLoss, (param) => tsGrad.get(param)!);
      // float32's own round-off on this batch: torch's float32 values against its float64 ones. A small loss with a
      // small grid gap (large N) amplifies it: the residual subtracts terms of the data's scale.
      const own = against(torchOut.loss64, (param) => torchOut.grad64[param]);
      const fmt = (d: typeof ts) => `loss ${d.loss.toExponential(2)}, gradient l2 ${d.l2.toExponential(2)}, max ${d.max.toExponential(2)}`;
      console.log(`${name}: loss ts ${tsLoss} torch ${torchOut.loss} (float64 ${torchOut.loss64}); relative differences ts-torch: ${fmt(ts)}; torch float32-float64: ${fmt(own)}`);
      // round-off: no more than 1e-5 (loss) and 5e-5 (gradient), or 4 times float32's own error where that is larger
      expect(ts.loss).toBeLessThan(Math.max(1e-5, 4 * own.loss));
      expect(ts.l2).toBeLessThan(Math.max(5e-5, 4 * own.l2));
      expect(ts.max).toBeLessThan(Math.max(5e-5, 4 * own.max));
    }, 120_000);
  }
});

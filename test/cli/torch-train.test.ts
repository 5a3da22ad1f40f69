/**
 * torch/train.py on an export-run folder: a 2-process gloo run on CPU (torch.distributed.run) whose student the CLI
 * opens and samples (moons-mlp, and a few steps of mnist14-unet, of a tiny NCSN++ SongUNet, of a tiny class-conditional
 * diffusers UNet2DModel under ddpm-eps, and of the analytic ring8 teacher's MLP student); resume after a checkpoint equal to an uninterrupted run
 * (1 process, and 3 processes under DDP); a checkpoint of another run, or of another teacher
 * (moons-mlp with one weight changed, the same settings), refused; torch/flops.py's count on moons-mlp.
 * Needs /usr/bin/python3 with torch (Debian's python3-torch); skipped, saying so, without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIFFUSERS_UNET2D_DEFAULTS, type DiffusersUnet2dNetwork } from '../../src/formats/diffusers-network';
import { EDM_SONGUNET_DEFAULTS, type EdmSongUnetNetwork } from '../../src/formats/edm-networks';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { randomHost } from '../helpers/random-weights';
import { runInProcess } from './in-process';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`torch-train.test.ts skipped: ${PYTHON} cannot import torch and numpy (install Debian's python3-torch)`);
const TRAIN = fileURLToPath(new URL('../../torch/train.py', import.meta.url));
const FLOPS = fileURLToPath(new URL('../../torch/flops.py', import.meta.url));
const teacherFile = (name: string) => fileURLToPath(new URL(`../../public/teachers/${name}.safetensors`, import.meta.url));
const TEACHER = teacherFile('moons-mlp');
/** NCSN++ on 8x8x3: Fourier embedding, residual encoder, skip decoder, [1, 3, 3, 1] filters (fixed buffers), attention. */
const SONG: EdmSongUnetNetwork = {
  ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', img_resolution: 8, in_channels: 3, out_channels: 3, model_channels: 8,
  channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4], dropout: 0, embedding_type: 'fourier',
  channel_mult_noise: 2, encoder_type: 'residual', decoder_type: 'skip', resample_filter: [1, 3, 3, 1],
};
/** diffusers' UNet2DModel on 8x8x3, 3 classes (nn.Embedding class labels), attention at 4x4 with 4 heads. */
const DIFFUSERS: DiffusersUnet2dNetwork = {
  ...DIFFUSERS_UNET2D_DEFAULTS, type: 'diffusers-unet2d', sample_size: 8, in_channels: 3, out_channels: 3, layers_per_block: 1, norm_num_groups: 4,
  block_out_channels: [8, 16], down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'], attention_head_dim: 4,
  num_class_embeds: 3,
};
const dir = mkdtempSync(join(tmpdir(), 'pid-torch-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' };

function train(args: string[], procs = 1) {
  // Debian's torch 1.13 under Python 3.11: torchrun's default --redirects/--tee "0" parse to None; "1" works.
  const launcher = procs > 1 ? ['-m', 'torch.distributed.run', `--nproc_per_node=${procs}`, '--redirects', '1', '--tee', '1', '--log_dir', join(dir, 'torchrun-logs'), '--standalone'] : [];
  return spawnSync(PYTHON, [...launcher, TRAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env });
}
const weights = (file: string) => readSafetensors(new Uint8Array(readFileSync(join(dir, file))), file);

describe.skipIf(!hasTorch)('torch/train.py', () => {
  beforeAll(async () => {
    const a = await runInProcess(['export-run', '--teacher', TEACHER, '--out', 'run', '--steps', '6', '--batch', '32', '--seed', '5'], dir);
    expect(a.code, a.err.join('\n')).toBe(0);
    const b = await runInProcess(['export-run', '--teacher', TEACHER, '--out', 'other', '--steps', '6', '--batch', '32', '--seed', '6'], dir);
    expect(b.code, b.err.join('\n')).toBe(0);
    const config = { format: 'pid-studio/1', role: 'teacher', name: 'tiny NCSN++', data: { shape: [8, 8, 3], range: [-1, 1] },
      edm: { sigma_data: 0.5, sigma_min: 0.002, sigma_max: 80, rho: 7 }, network: SONG };
    writeFileSync(join(dir, 'song.safetensors'), writeSafetensors(randomHost(SONG, [8, 8, 3], 5), { pid_studio: JSON.stringify(config) }));
    const dconfig = { ...config, name: 'tiny class-conditional UNet2DModel', data: { shape: [8, 8, 3], range: [-1, 1], label_dim: 3 }, network: DIFFUSERS,
      precond: { type: 'ddpm-eps', num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } };
    writeFileSync(join(dir, 'diffusers.safetensors'), writeSafetensors(randomHost(DIFFUSERS, [8, 8, 3], 5), { pid_studio: JSON.stringify(dconfig) }));
    // another teacher on the same settings: moons-mlp with one weight changed, same name, same config
    const moons = readSafetensors(new Uint8Array(readFileSync(TEACHER)), TEACHER);
    moons.tensors.get('out.bias')!.data[0] += 0.25;
    writeFileSync(join(dir, 'moons-mlp.safetensors'), writeSafetensors(moons.tensors, moons.metadata));
    const c = await runInProcess(['export-run', '--teacher', 'moons-mlp.safetensors', '--out', 'changed', '--steps', '6', '--batch', '32', '--seed', '5'], dir);
    expect(c.code, c.err.join('\n')).toBe(0);
  });

  it('runs on 2 processes (gloo, CPU) and writes a student the CLI opens and samples', async () => {
    const r = train(['run', '--out', 'ddp.safetensors', '--device', 'cpu', '--log', 'ddp.jsonl'], 2);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/on 2 process\(es\)/);
    const lines = readFileSync(join(dir, 'ddp.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => !l.final).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(lines.every((l) => l.final || Number.isFinite(l.loss))).toBe(true);
    const inspect = await runInProcess(['inspect', 'ddp.safetensors'], dir);
    expect(inspect.code, inspect.err.join('\n')).toBe(0);
    expect(inspect.out[0]).toMatch(/valid pid-studio student/);
    const config = JSON.parse(weights('ddp.safetensors').metadata.pid_studio);
    const run = JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8'));
    expect(config.student).toEqual({ parametrization: 'pid', teacher: { name: run.teacher.name, sha256: run.teacher.sha256 },
      pid: { N: 250, loss: 'l2', optimizer: 'radam', lr: 0.01, lr_final: 0.001, batch: 32, steps: 6, ema: 0.99, seed: 5 } });
    const sample = await runInProcess(['sample', '--model', 'ddp.safetensors', '--n', '8', '--out', 'x.safetensors', '--backend', 'cpu'], dir);
    expect(sample.code, sample.err.join('\n')).toBe(0);
  }, 120_000);

  // a few steps of image networks (and of the analytic ring8's MLP student, from student-init.safetensors) on 2
  // processes: the student opens, samples, and keeps EDM's fixed buffers
  const runs = [['mnist14-unet', teacherFile('mnist14-unet')], ['edm-songunet', 'song.safetensors'], ['diffusers-unet2d', 'diffusers.safetensors'], ['ring8', teacherFile('ring8')]];
  for (const [name, teacher] of runs) {
    it(`runs ${name} on 2 processes and writes a student the CLI opens and samples`, async () => {
      const a = await runInProcess(['export-run', '--teacher', teacher, '--out', `run-${name}`, '--steps', '3', '--batch', '4', '--seed', '2'], dir);
      expect(a.code, a.err.join('\n')).toBe(0);
      const r = train([`run-${name}`, '--out', `${name}.safetensors`, '--device', 'cpu', '--log', `${name}.jsonl`], 2);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const lines = readFileSync(join(dir, `${name}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.filter((l) => !l.final).map((l) => [l.step, Number.isFinite(l.loss) && Number.isFinite(l.gradNorm)])).toEqual([[1, true], [2, true], [3, true]]);
      const inspect = await runInProcess(['inspect', `${name}.safetensors`], dir);
      expect(inspect.code, inspect.err.join('\n')).toBe(0);
      expect(inspect.out[0]).toMatch(/valid pid-studio student/);
      const student = weights(`${name}.safetensors`).tensors;
      const start = weights(join(`run-${name}`, JSON.parse(readFileSync(join(dir, `run-${name}`, 'run.json'), 'utf8')).student.init)).tensors;
      expect([...student.keys()].sort()).toEqual([...start.keys()].sort());
      let moved = false;
      for (const [key, t] of start) {
        const same = t.data.every((v, i) => v === student.get(key)!.data[i]);
        if (/resample_filter$|^map_noise\.freqs$/.test(key)) expect(same, key).toBe(true); // buffers: not trained
        else moved ||= !same;
      }
      expect(moved).toBe(true);
      const sample = await runInProcess(['sample', '--model', `${name}.safetensors`, '--n', '2', '--out', `${name}-x.safetensors`, '--backend', 'cpu'], dir);
      expect(sample.code, sample.err.join('\n')).toBe(0);
    }, 120_000);
  }

  it('resumed after a checkpoint, ends where an uninterrupted run ends, bit for bit', () => {
    const whole = train(['run', '--out', 'whole.safetensors', '--device', 'cpu']);
    expect(whole.status, whole.stderr).toBe(0);
    const first = train(['run', '--out', 'part.safetensors', '--device', 'cpu', '--checkpoint', 'ck.safetensors', '--max-steps', '4']);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(weights('part.safetensors').metadata.pid_studio).student.pid.steps).toBe(4);
    const rest = train(['run', '--out', 'resumed.safetensors', '--device', 'cpu', '--checkpoint', 'ck.safetensors', '--resume']);
    expect(rest.status, rest.stderr).toBe(0);
    expect(rest.stdout).toMatch(/resuming at step 4/);
    const a = weights('whole.safetensors').tensors;
    const b = weights('resumed.safetensors').tensors;
    const c = weights('part.safetensors').tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    let changed = false;
    for (const [name, t] of a) {
      expect(b.get(name)!.data, name).toEqual(t.data);
      changed ||= t.data.some((v, i) => v !== c.get(name)!.data[i]);
    }
    expect(changed).toBe(true); // steps 5 and 6 did something
  }, 120_000);

  // 3 processes: DDP's buckets, which set the order of the sum over more than 2 ranks, must be laid out alike in the
  // resumed run (train.py's throwaway iteration before the first step; without it the weights differ by 1e-10)
  it('resumed on 3 processes (DDP), ends where an uninterrupted 3-process run ends, bit for bit', () => {
    const whole = train(['run', '--out', 'whole3.safetensors', '--device', 'cpu'], 3);
    expect(whole.status, whole.stdout + whole.stderr).toBe(0);
    const first = train(['run', '--out', 'part3.safetensors', '--device', 'cpu', '--checkpoint', 'ck3.safetensors', '--max-steps', '3'], 3);
    expect(first.status, first.stdout + first.stderr).toBe(0);
    const rest = train(['run', '--out', 'resumed3.safetensors', '--device', 'cpu', '--checkpoint', 'ck3.safetensors', '--resume'], 3);
    expect(rest.status, rest.stdout + rest.stderr).toBe(0);
    expect(rest.stdout).toMatch(/resuming at step 3/);
    const a = weights('whole3.safetensors').tensors;
    const b = weights('resumed3.safetensors').tensors;
    for (const [name, t] of a) expect(b.get(name)!.data, name).toEqual(t.data);
  }, 120_000);

  it('refuses a checkpoint of another run or of another teacher, and a bad folder, in one line with exit code 2', () => {
    const r = train(['other', '--out', 'o.safetensors', '--device', 'cpu', '--checkpoint', 'ck.safetensors', '--resume']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/belongs to other settings/);
    const run = JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8'));
    const changed = JSON.parse(readFileSync(join(dir, 'changed', 'run.json'), 'utf8'));
    expect(changed.settings).toEqual(run.settings); // only the teacher differs
    expect(changed.teacher.sha256).not.toBe(run.teacher.sha256);
    const t = train(['changed', '--out', 'o.safetensors', '--device', 'cpu', '--checkpoint', 'ck.safetensors', '--resume']);
    expect(t.status, t.stdout + t.stderr).toBe(2);
    expect(t.stderr.trim().split('\n')).toHaveLength(1);
    expect(t.stderr).toMatch(/belongs to another teacher/);
    const bad = train(['nowhere', '--out', 'o.safetensors']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/run\.json: cannot be read/);
  }, 60_000);

  it('counts the FLOPs of a PID step (torch/flops.py): moons-mlp, one multiply-add per weight, 7 B forwards', () => {
    const r = spawnSync(PYTHON, [FLOPS, '--json', TEACHER, '--batch', '256'], { cwd: dir, encoding: 'utf8', timeout: 60_000, env });
    expect(r.status, r.stderr).toBe(0);
    const row = JSON.parse(r.stdout);
    const w = weights(join('run', 'teacher.safetensors')).tensors;
    const macs = [...w].filter(([n]) => n.endsWith('.weight')).reduce((s, [, t]) => s + t.data.length, 0);
    expect(row.forwardMacsPerSample).toBe(macs);
    expect(row.stepFlop).toBe(7 * 256 * 2 * macs);
  }, 60_000);
});

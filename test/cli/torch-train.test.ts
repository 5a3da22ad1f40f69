/**
 * torch/train.py on an export-run folder: a 2-process gloo run on CPU (torch.distributed.run) whose student the CLI
 * opens and samples; resume after a checkpoint equal to an uninterrupted run; a checkpoint of another run refused.
 * Needs /usr/bin/python3 with torch (Debian's python3-torch); skipped, saying so, without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/formats/safetensors';
import { runInProcess } from './in-process';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`torch-train.test.ts skipped: ${PYTHON} cannot import torch and numpy (install Debian's python3-torch)`);
const TRAIN = fileURLToPath(new URL('../../torch/train.py', import.meta.url));
const TEACHER = fileURLToPath(new URL('../../public/teachers/moons-mlp.safetensors', import.meta.url));
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

  it('refuses a checkpoint of another run, and a bad folder, in one line with exit code 2', () => {
    const r = train(['other', '--out', 'o.safetensors', '--device', 'cpu', '--checkpoint', 'ck.safetensors', '--resume']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/belongs to other settings/);
    const bad = train(['nowhere', '--out', 'o.safetensors']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/run\.json: cannot be read/);
  }, 60_000);
});

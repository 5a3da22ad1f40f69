/** `distill --checkpoint/--resume`: a resumed run continues exactly where the checkpoint left it. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/core/checkpoint';
import { readModelFile } from '../../src/formats/model-file';
import { runCli } from './run-cli';

const dir = mkdtempSync(join(tmpdir(), 'pid-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const common = ['--teacher', 'builtin:gaussian', '--student-network', '{"type":"mlp","hidden":16,"blocks":1,"emb_dim":4,"emb_max_freq":2}', '--batch', '32', '--lr', '1e-3', '--lr-final', '1e-3'];
const weightsOf = async (file: string) => {
  const m = await readModelFile([{ name: file, bytes: new Uint8Array(readFileSync(join(dir, file))) }]);
  return [...m.tensors].map(([k, t]) => [k, Array.from(t.data)]);
};

describe('distill --checkpoint / --resume', () => {
  it('40 steps, then a resume to 80, equals 80 steps in one go', async () => {
    const whole = await runCli(['distill', ...common, '--steps', '80', '--out', 'whole.safetensors'], dir);
    expect(whole.code, whole.stderr).toBe(0);
    const first = await runCli(['distill', ...common, '--steps', '40', '--out', 'half.safetensors', '--checkpoint', 'c.safetensors'], dir);
    expect(first.code, first.stderr).toBe(0);
    const ckpt = readCheckpoint(new Uint8Array(readFileSync(join(dir, 'c.safetensors'))), 'c.safetensors');
    expect(ckpt.state.step).toBe(40);
    const second = await runCli(['distill', '--teacher', 'builtin:gaussian', '--resume', '--checkpoint', 'c.safetensors', '--steps', '80', '--out', 'resumed.safetensors'], dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/resuming from c\.safetensors at step 40/);
    expect(await weightsOf('resumed.safetensors')).toEqual(await weightsOf('whole.safetensors'));
  });

  it('refuses a checkpoint made for another teacher', async () => {
    const r = await runCli(['distill', '--teacher', 'builtin:ring8', '--resume', '--checkpoint', 'c.safetensors', '--out', 'x.safetensors'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/c\.safetensors: checkpoint was made for teacher "Single Gaussian.*not this one.*Fix: resume with the same --teacher/);
  });

  it('refuses --resume without a checkpoint file, and a model file given as a checkpoint', async () => {
    const a = await runCli(['distill', '--teacher', 'builtin:gaussian', '--resume', '--out', 'x.safetensors'], dir);
    expect(a.stderr).toMatch(/--resume needs --checkpoint/);
    const b = await runCli(['distill', '--teacher', 'builtin:gaussian', '--resume', '--checkpoint', 'whole.safetensors', '--out', 'x.safetensors'], dir);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/whole\.safetensors: is not a pid-studio checkpoint/);
  });
});

/**
 * `pid-studio export-run`: the folder torch/train.py runs (run.json "pid-studio-run/1", teacher.safetensors, and
 * student-init.safetensors for a fresh student), its settings resolved exactly as distill resolves them.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { distillSettings } from '../../src/cli/distill';
import { initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { readModelFile } from '../../src/formats/model-file';
import { readSafetensors } from '../../src/formats/safetensors';
import { runInProcess } from './in-process';

const TEACHER = fileURLToPath(new URL('../../public/teachers/moons-mlp.safetensors', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pid-export-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('pid-studio export-run', () => {
  it("writes run.json with distill's resolved settings and the teacher as a pid-studio file", async () => {
    const flags = ['--preset', 'paper', '--steps', '600', '--batch', '128', '--lr-final', '1e-5', '--seed', '7', '--micro-batch', '32'];
    const r = await runInProcess(['export-run', '--teacher', TEACHER, '--out', 'run-a', ...flags], dir);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toMatch(/torchrun --nproc_per_node=K torch\/train\.py run-a/);
    const run = json(join(dir, 'run-a', 'run.json'));
    expect(run.format).toBe('pid-studio-run/1');
    expect(run.settings).toEqual(distillSettings({ preset: 'paper', steps: 600, batch: 128, 'lr-final': 1e-5, seed: 7 }));
    expect(run.settings).toMatchObject({ N: 250, lr: 2e-4, lrFinal: 1e-5, ema: 0.999, batch: 128, steps: 600, seed: 7, evalEvery: 60 });
    expect(run.microBatch).toBe(32);
    expect(run.teacher).toMatchObject({ file: 'teacher.safetensors', source: 'moons-mlp.safetensors', sha256: sha(TEACHER) });
    expect(run.teacher.fileSha256).toBe(sha(join(dir, 'run-a', 'teacher.safetensors')));
    expect(run.student).toEqual({ network: run.teacher.config.network, fromTeacher: true, init: 'teacher.safetensors' });
    expect(existsSync(join(dir, 'run-a', 'student-init.safetensors'))).toBe(false);
    const original = await readModelFile([{ name: 'a.safetensors', bytes: new Uint8Array(readFileSync(TEACHER)) }]);
    const written = await readModelFile([{ name: 'b.safetensors', bytes: new Uint8Array(readFileSync(join(dir, 'run-a', 'teacher.safetensors'))) }]);
    expect(written.config).toEqual(original.config);
    expect(run.teacher.config).toEqual(original.config);
    expect([...written.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    for (const [name, t] of original.tensors) expect(written.tensors.get(name)!.data).toEqual(t.data);
  });

  it('writes the fresh initialisation distill would draw for another student network', async () => {
    const net = '{"type":"mlp","hidden":32,"blocks":1}';
    const r = await runInProcess(['export-run', '--teacher', TEACHER, '--out', 'run-b', '--student-network', net, '--seed', '3', '--name', 'small'], dir);
    expect(r.code).toBe(0);
    const run = json(join(dir, 'run-b', 'run.json'));
    expect(run.settings).toEqual(distillSettings({ seed: 3 }));
    expect(run.student).toMatchObject({ fromTeacher: false, init: 'student-init.safetensors', name: 'small' });
    expect(run.student.network).toMatchObject({ type: 'mlp', hidden: 32, blocks: 1 });
    const init = readSafetensors(new Uint8Array(readFileSync(join(dir, 'run-b', 'student-init.safetensors'))), 'init').tensors;
    const want = initParams(run.student.network, [2], new Rng(3 + 1));
    expect([...init.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, t] of want) expect(init.get(name)!.data).toEqual(t.data);
  });

  it('refuses the flags of this machine and bad settings in one line', async () => {
    const a = await runInProcess(['export-run', '--teacher', TEACHER, '--out', 'run-c', '--backend', 'cpu'], dir);
    expect(a.code).toBe(2);
    expect(a.err.join('\n')).toMatch(/unknown option --backend/);
    const b = await runInProcess(['export-run', '--teacher', TEACHER, '--out', 'run-c', '--lr', '0'], dir);
    expect(b.code).toBe(2);
    expect(b.err).toHaveLength(1);
    expect(b.err[0]).toMatch(/^pid-studio export-run: --lr/);
    expect(existsSync(join(dir, 'run-c'))).toBe(false);
  });
});

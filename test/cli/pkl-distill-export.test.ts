/**
 * From an EDM network snapshot to a student and back to PyTorch: `distill` from a .pkl fixture (written by EDM's code,
 * test/fixtures/edm-snapshots), `export --format pytorch` under EDMPrecond's names and under the PID reference's, each
 * read back through the project's own reader with the student's D and one-step samples, and loaded by real PyTorch
 * (torch.load(weights_only=True), load_state_dict(strict=True) into a module with the snapshot's names:
 * test/torch/check_state_dicts.py). Needs Debian's python3-torch at /usr/bin/python3.
 */
import * as tf from '@tensorflow/tfjs-core';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preconditionedDenoiser } from '../../src/core/edm';
import { readAnyModel } from '../../src/core/model-import';
import { loadStudent, loadTeacher } from '../../src/core/models';
import { precondOf } from '../../src/core/precond';
import { Rng } from '../../src/core/rng';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { useBackend } from '../helpers/backend';
import { runCli } from './run-cli';

const FIXTURES = fileURLToPath(new URL('../fixtures/edm-snapshots', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pid-pkl-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => useBackend('cpu'));
const file = (name: string) => [{ name: join(dir, name), bytes: new Uint8Array(readFileSync(join(dir, name))) }];

function checkWithTorch(pairs: { original: string; exported: string; drop_prefix?: string; drop?: string[] }[]): { ok: boolean; problems?: string[] } {
  const manifest = join(dir, 'manifest.json');
  writeFileSync(manifest, JSON.stringify({ pairs: pairs.map((p) => ({ ...p, original: join(dir, p.original), exported: join(dir, p.exported) })) }));
  const stdout = execFileSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'torch', 'check_state_dicts.py'), manifest], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('distill from an EDM snapshot (.pkl), export --format pytorch, read back', () => {
  it("the exported files load back with the student's D and one-step samples, and into PyTorch under the snapshot's names", async () => {
    copyFileSync(join(FIXTURES, 'edm-ddpmpp.pkl'), join(dir, 'edm-ddpmpp.pkl'));
    const d = await runCli(['distill', '--teacher', 'edm-ddpmpp.pkl', '--steps', '2', '--batch', '2', '--N', '8', '--ema', '0', '--out', 'student.safetensors'], dir, 180_000);
    expect(d.code, d.stderr).toBe(0);
    const e = await runCli(['export', 'student.safetensors', '--format', 'pytorch', '--out', 'student.pt'], dir);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/keys prefixed 'model\.'/);
    const p = await runCli(['export', 'student.safetensors', '--format', 'pytorch', '--keys', 'pid', '--out', 'ema_pid.pt'], dir);
    expect(p.code, p.stderr).toBe(0);
    const t = await runCli(['export', 'edm-ddpmpp.pkl', '--format', 'pytorch', '--out', 'teacher.pt'], dir);
    expect(t.code, t.stderr).toBe(0);

    // the project's reader: student.pt is EDMPrecond's state dict, the same network and weights as the student
    const student = await readAnyModel(file('student.safetensors'));
    const exported = await readAnyModel(file('student.pt'));
    expect(exported.origin).toMatchObject({ format: 'pytorch', prefix: 'model.' });
    // the same network; dropout (training only) is not in a state dict, so inference takes EDM's default
    const inference = (n: object) => Object.fromEntries(Object.entries(n).filter(([k]) => !k.endsWith('dropout')));
    expect(inference(exported.config.network)).toEqual(inference(student.config.network));
    expect([...exported.tensors.keys()].sort()).toEqual([...student.tensors.keys()].sort());
    const trained = student.tensors.get('map_layer0.weight')!.data;
    const teacherWeights = (await readAnyModel(file('edm-ddpmpp.pkl'))).tensors.get('map_layer0.weight')!.data;
    expect(trained).not.toEqual(teacherWeights); // distillation moved it

    const rng = new Rng(5);
    const x = tf.tensor(rng.normals(3 * 8 * 8 * 3, 2), [3, 8, 8, 3]);
    const sigma = tf.tensor1d([0.05, 1, 20]);
    const s = loadStudent(student);
    const asTeacher = loadTeacher(exported);
    const dStudent = tf.tidy(() => preconditionedDenoiser(s.network.apply, precondOf(student.config)).denoise(x, sigma));
    const dExported = tf.tidy(() => asTeacher.denoiser.denoise(x, sigma));
    const a = (await dStudent.data()) as Float32Array;
    const b = (await dExported.data()) as Float32Array;
    const diff = a.reduce((m: number, v: number, i: number) => Math.max(m, Math.abs(v - b[i])), 0);
    console.log(`D of the student vs D of its exported .pt read back: max |diff| ${diff} (max |D| ${Math.max(...Array.from(a, Math.abs)).toFixed(3)})`);
    expect(diff).toBe(0);
    tf.dispose([x, sigma, dStudent, dExported]);
    s.dispose();
    asTeacher.dispose();

    // the PID reference's names (no 'model.', no map_augment) read back with --role student sample as the student does
    const size = 2 * 8 * 8 * 3;
    writeFileSync(join(dir, 'z.safetensors'), writeSafetensors(new Map([['z', { shape: [2, 8, 8, 3], data: new Rng(9).normals(size) }]])));
    const s1 = await runCli(['sample', '--model', 'student.safetensors', '--noise', 'z.safetensors', '--out', 'x1.safetensors', '--backend', 'cpu'], dir);
    const s2 = await runCli(['sample', '--model', 'ema_pid.pt', '--role', 'student', '--noise', 'z.safetensors', '--out', 'x2.safetensors', '--backend', 'cpu'], dir);
    expect(s1.code, s1.stderr).toBe(0);
    expect(s2.code, s2.stderr).toBe(0);
    const read = (n: string) => readSafetensors(new Uint8Array(readFileSync(join(dir, n))), n).tensors.get('x')!.data;
    const [x1, x2] = [read('x1.safetensors'), read('x2.safetensors')];
    const maxAbs = Math.max(...Array.from(x1, Math.abs));
    const sampleDiff = x1.reduce((m, v, i) => Math.max(m, Math.abs(v - x2[i])), 0);
    console.log(`one-step samples of student.safetensors vs ema_pid.pt --role student: max |diff| ${sampleDiff} (max |x| ${maxAbs.toFixed(3)})`);
    expect(maxAbs).toBeGreaterThan(0.01);
    expect(sampleDiff).toBe(0);

    // real PyTorch: both load under the snapshot's own names (EDMPrecond's state dict), and the check can fail
    expect(checkWithTorch([
      { original: 'teacher.pt', exported: 'student.pt' },
      { original: 'teacher.pt', exported: 'ema_pid.pt', drop_prefix: 'model.', drop: ['map_augment.'] },
    ])).toEqual({ ok: true, problems: [] });
    expect(checkWithTorch([{ original: 'teacher.pt', exported: 'ema_pid.pt' }]).ok).toBe(false);
  }, 300_000);
});

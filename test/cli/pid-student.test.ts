/**
 * `--role student` on sample, inspect and eval: a PID-reference student (test/fixtures/pid-students, written with
 * EDM's networks by test/torch/make_pid_students.py) sampled in one step by the real command, against the reference's
 * one-step sample in float64 (expected.json).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { runCli } from './run-cli';

const FIXTURES = fileURLToPath(new URL('../fixtures/pid-students', import.meta.url));
interface Case { file: string; precond: string; z: number[]; labels: number[][] | null; x: number[]; shape: number[] }
const expected: Record<string, Case> = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'pid-cli-student-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function maxDiff(file: string, want: number[]): { diff: number; scale: number } {
  const x = readSafetensors(new Uint8Array(readFileSync(join(dir, file))), file).tensors.get('x')!;
  let diff = 0;
  let scale = 0;
  x.data.forEach((v, i) => { diff = Math.max(diff, Math.abs(v - want[i])); scale = Math.max(scale, Math.abs(want[i])); });
  return { diff, scale };
}

describe('pid-studio --role student', () => {
  for (const name of ['ddpmpp-fp16', 'adm-cond-vp']) {
    it(`sample --role student (${expected[name].file}) takes one step, equal to the reference's float64 sample to round-off`, async () => {
      const c = expected[name];
      copyFileSync(join(FIXTURES, c.file), join(dir, c.file));
      writeFileSync(join(dir, `${name}-z.safetensors`), writeSafetensors(new Map([['z', { shape: c.shape, data: Float32Array.from(c.z) }]])));
      const args = ['sample', '--model', c.file, '--role', 'student', '--noise', `${name}-z.safetensors`, '--out', `${name}-x.safetensors`];
      if (c.precond !== 'edm') args.push('--precond', c.precond);
      if (c.labels) {
        writeFileSync(join(dir, `${name}-labels.safetensors`), writeSafetensors(new Map([['labels', { shape: [c.labels.length, c.labels[0].length], data: Float32Array.from(c.labels.flat()) }]])));
        args.push('--labels', `${name}-labels.safetensors`);
      }
      const r = await runCli(args, dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/student, one step \(1 NFE\)/);
      const { diff, scale } = maxDiff(`${name}-x.safetensors`, c.x);
      console.log(`sample --role student ${c.file}: max |x - x_ref(float64)| = ${diff.toExponential(2)}, max |x| = ${scale.toFixed(3)}`);
      expect(diff).toBeLessThan(2e-6 * scale);
    });
  }

  it('inspect --role student says how it samples; eval --role student reads it as a student (and wants digits)', async () => {
    copyFileSync(join(FIXTURES, 'ncsnpp-ve.pkl'), join(dir, 'ncsnpp-ve.pkl'));
    const r = await runCli(['inspect', 'ncsnpp-ve.pkl', '--role', 'student'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/valid EDM network snapshot .*read as a PID one-step student/);
    expect(r.stdout).toMatch(/student {4}one step from sigma 80 to 0\.02: x = 0\.00025 z \+ 0\.99975 F\(c_in\(80\) z, c_noise\(0\.02\)\)/);
    const e = await runCli(['eval', '--model', 'ncsnpp-ve.pkl', '--role', 'student'], dir);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/ncsnpp-ve\.pkl: has data of shape \[8, 8, 3\]; the FD score is for MNIST digits/);
    const bad = await runCli(['sample', '--model', 'ncsnpp-ve.pkl', '--role', 'pupil', '--n', '1', '--out', 'o.safetensors'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--role must be one of teacher, student \(got 'pupil'\)/);
  });
});

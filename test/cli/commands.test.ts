/** The CLI's happy paths through the real command: inspect, sample (teacher ODE and student one step), distill. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng';
import { readModelFile, sha256Hex } from '../../src/formats/model-file';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { runCli } from './run-cli';

const dir = mkdtempSync(join(tmpdir(), 'pid-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const N_POINTS = 512;
const noise = new Rng(123).normals(N_POINTS * 2);
writeFileSync(join(dir, 'z.safetensors'), writeSafetensors(new Map([['z', { shape: [N_POINTS, 2], data: noise }]])));

const samples = (file: string) => {
  const t = readSafetensors(new Uint8Array(readFileSync(join(dir, file))), file).tensors.get('x')!;
  return t;
};
const rmse = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / (a.length / 2));

describe('pid-studio inspect', () => {
  it('validates and summarises a built-in teacher', async () => {
    const r = await runCli(['inspect', 'builtin:moons-mlp'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/valid pid-studio teacher "Two moons \(learned MLP\)"/);
    expect(r.stdout).toMatch(/network +MLP \(PID Studio\): mlp \{"hidden":64/);
    expect(r.stdout).toMatch(/parameters +30,530 in 20 tensors/);
    expect(r.stderr).toBe('');
  });
});

describe('pid-studio sample', () => {
  it('solves the teacher ODE reproducibly from --n/--seed, and from a noise file', async () => {
    const a = await runCli(['sample', '--model', 'builtin:ring8', '--n', '300', '--seed', '4', '--out', 'a.safetensors'], dir);
    const b = await runCli(['sample', '--model', 'builtin:ring8', '--n', '300', '--seed', '4', '--out', 'b.safetensors', '--backend', 'cpu'], dir);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(a.stdout).toMatch(/300 samples of \[2\], teacher heun on 18 Karras points \+ 0 \(35 NFE\)/);
    const xa = samples('a.safetensors');
    expect(xa.shape).toEqual([300, 2]);
    expect(rmse(xa.data, samples('b.safetensors').data)).toBeLessThan(1e-4); // wasm and cpu agree
    // ring8 samples lie near radius 0.8
    const radii = Array.from({ length: 300 }, (_, i) => Math.hypot(xa.data[2 * i], xa.data[2 * i + 1]));
    expect(radii.filter((r) => Math.abs(r - 0.8) < 0.25).length).toBeGreaterThan(285);
    const e = await runCli(['sample', '--model', 'builtin:ring8', '--noise', 'z.safetensors', '--solver', 'euler', '--steps', '40', '--out', 'e.safetensors'], dir);
    expect(e.stdout).toMatch(/euler on 40 Karras points \+ 0 \(40 NFE\)/);
    expect(samples('e.safetensors').shape).toEqual([N_POINTS, 2]);
  });
});

describe('pid-studio distill, then sample the student', () => {
  it("gives one-step samples that match the teacher's ODE solution of the same noise", async () => {
    const d = await runCli(['distill', '--teacher', 'builtin:moons-mlp', '--out', 's.safetensors', '--steps', '1500', '--ema', '0', '--log', 'm.jsonl'], dir, 600_000);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/initialised from the teacher's weights/);
    const lines = readFileSync(join(dir, 'm.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines.filter((l) => typeof l.loss === 'number');
    expect(steps).toHaveLength(1500);
    expect(steps[1499].step).toBe(1500);
    expect(lines[lines.length - 1].final).toBe(true);

    const i = await runCli(['inspect', 's.safetensors'], dir);
    expect(i.code, i.stderr).toBe(0);
    const student = await readModelFile([{ name: 's.safetensors', bytes: new Uint8Array(readFileSync(join(dir, 's.safetensors'))) }]);
    const teacherBytes = new Uint8Array(readFileSync(new URL('../../public/teachers/moons-mlp.safetensors', import.meta.url)));
    expect(student.config.role).toBe('student');
    expect(student.config.student!.teacher.sha256).toBe(await sha256Hex(teacherBytes));
    expect(student.config.student!.pid).toMatchObject({ N: 250, loss: 'l2', optimizer: 'radam', lr: 1e-2, lr_final: 1e-3, batch: 256, steps: 1500, ema: 0, seed: 0 });

    const s = await runCli(['sample', '--model', 's.safetensors', '--noise', 'z.safetensors', '--out', 'xs.safetensors'], dir);
    expect(s.stdout).toMatch(/student, one step \(1 NFE\)/);
    const t = await runCli(['sample', '--model', 'builtin:moons-mlp', '--noise', 'z.safetensors', '--steps', '64', '--out', 'xt.safetensors'], dir);
    expect(t.code, t.stderr).toBe(0);
    const err = rmse(samples('xs.safetensors').data, samples('xt.safetensors').data);
    console.log(`student (1 NFE) vs teacher ODE (Heun, 127 NFE) on ${N_POINTS} shared noise draws: rmse ${err.toFixed(4)}`);
    expect(err).toBeLessThan(0.15);

    // The same check fails for an undistilled student (0 steps), so it measures the distillation.
    await runCli(['distill', '--teacher', 'builtin:moons-mlp', '--out', 's0.safetensors', '--steps', '0'], dir);
    await runCli(['sample', '--model', 's0.safetensors', '--noise', 'z.safetensors', '--out', 'x0.safetensors'], dir);
    expect(rmse(samples('x0.safetensors').data, samples('xt.safetensors').data)).toBeGreaterThan(0.5);
  });
});

/** `inspect` on the CLI's tensor files says what each is, from its shape and metadata, instead of a model error. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tensorFileKind } from '../../src/cli/tensor-files';
import { Rng } from '../../src/core/rng';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { runInProcess } from './in-process';

const dir = mkdtempSync(join(tmpdir(), 'pid-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const one = (name: string, shape: number[], data: Float32Array) => writeSafetensors(new Map([[name, { shape, data }]]));

describe('pid-studio inspect on tensor files', () => {
  it('a samples file written by sample: its size, dtype, where it came from and its values', async () => {
    const s = await runInProcess(['sample', '--model', 'builtin:ring8', '--n', '64', '--seed', '3', '--steps', '6', '--backend', 'cpu', '--out', 'x.safetensors'], dir);
    expect(s.code, s.err.join('\n')).toBe(0);
    const r = await runInProcess(['inspect', 'x.safetensors'], dir);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out[0]).toMatch(/^x\.safetensors: samples file: 64 x \[2\], float32, made by pid-studio sample from teacher "[^"]+" \(sha256 [0-9a-f]{12}\.\.\.\), teacher heun on 6 Karras points \+ 0 \(11 NFE\), --n 64 --seed 3$/);
    // the printed values are those of the file
    const x = readSafetensors(new Uint8Array(readFileSync(join(dir, 'x.safetensors'))), 'x').tensors.get('x')!.data;
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const std = Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / (x.length - 1));
    const printed = r.out[1].match(/^ {2}values +min (\S+), max (\S+), mean (\S+), std (\S+)$/)!.slice(1).map(Number);
    [Math.min(...x), Math.max(...x), mean, std].forEach((v, i) => expect(printed[i]).toBeCloseTo(v, 3));
  });

  it('a noise file: standard normal values pass, pre-scaled noise gets a note', async () => {
    const z = new Rng(1).normals(500 * 2);
    writeFileSync(join(dir, 'z.safetensors'), one('z', [500, 2], z));
    const r = await runInProcess(['inspect', 'z.safetensors'], dir);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('z.safetensors: noise file: 500 x [2], float32, origin not recorded');
    const [mean, std] = r.out[1].match(/mean (\S+), std (\S+)$/)!.slice(1).map(Number);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(std - 1)).toBeLessThan(0.1);
    expect(r.out).toHaveLength(2);

    writeFileSync(join(dir, 'z80.safetensors'), one('z', [500, 2], z.map((v) => 80 * v)));
    const scaled = await runInProcess(['inspect', 'z80.safetensors'], dir);
    expect(scaled.out[2]).toMatch(/noise should be standard normal \(std 1\): the tools multiply it by sigma_max themselves/);
  });

  it('tells tensor files from models by their header', async () => {
    writeFileSync(join(dir, 'sigma.safetensors'), one('sigma', [3], new Float32Array([1, 2, 3])));
    writeFileSync(join(dir, 'two.safetensors'), writeSafetensors(new Map([['x', { shape: [1], data: new Float32Array(1) }], ['z', { shape: [1], data: new Float32Array(1) }]])));
    writeFileSync(join(dir, 'junk.safetensors'), 'not safetensors at all');
    expect(tensorFileKind(join(dir, 'sigma.safetensors'))).toBe('sigma');
    expect(tensorFileKind(join(dir, 'z.safetensors'))).toBe('z');
    expect(tensorFileKind(join(dir, 'two.safetensors'))).toBeNull();
    expect(tensorFileKind(join(dir, 'junk.safetensors'))).toBeNull();
    expect(tensorFileKind(join(dir, 'nothing-here.safetensors'))).toBeNull();
    expect(tensorFileKind(dir)).toBeNull();
    // a model is still read as a model
    const m = await runInProcess(['inspect', 'builtin:ring8'], dir);
    expect(m.out[0]).toMatch(/valid pid-studio teacher/);
    // a two-tensor file is not a tensor file: the model reader's one line
    const two = await runInProcess(['inspect', 'two.safetensors'], dir);
    expect(two.code).toBe(2);
    expect(two.err).toHaveLength(1);
  });
});

/** Every kind of bad input through the real CLI: exit code 2 and ONE stderr line naming the file; never a stack trace. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeModelFile } from '../../src/formats/model-file';
import { writeSafetensors } from '../../src/formats/safetensors';
import { brokenModelFiles, validMlpConfig } from '../formats/broken-files';
import { pool, runCli } from './run-cli';

const dir = mkdtempSync(join(tmpdir(), 'pid-cli-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectOneLineError(r: { code: number | null; stdout: string; stderr: string }, mention: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(mention);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:/);
}

describe('pid-studio inspect refuses broken model files', () => {
  const cases = brokenModelFiles();
  it(`${cases.length} hand-made broken files: exit 2, one line each`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(12);
    for (const c of cases) writeFileSync(join(dir, c.name), c.bytes);
    const results = await pool(cases, 2, (c) => runCli(['inspect', c.name], dir));
    results.forEach((r, i) => {
      expectOneLineError(r, new RegExp(cases[i].name.replace(/[.]/g, '\\.')));
      expect(r.stderr).toMatch(cases[i].expect);
    });
  });
});

describe('pid-studio refuses bad arguments and mismatched files', () => {
  const mixture = (extra: Record<string, unknown> = {}) => ({
    ...validMlpConfig(),
    network: { type: 'gaussian-mixture', weights: [1], means: [[0, 0]], stds: [0.5] },
    ...extra,
  });
  const write = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, name), bytes);
  write('teacher.safetensors', writeModelFile(mixture() as never, new Map()));
  write('mlp-missing.safetensors', writeModelFile(validMlpConfig() as never, new Map([['input.weight', { shape: [4, 2], data: new Float32Array(8) }]])));
  write('mixture-with-tensors.safetensors', writeModelFile(mixture() as never, new Map([['w', { shape: [1], data: new Float32Array(1) }]])));
  write('noise-3d.safetensors', writeSafetensors(new Map([['z', { shape: [4, 3], data: new Float32Array(12) }]])));
  write('noise-named-x.safetensors', writeSafetensors(new Map([['x', { shape: [4, 2], data: new Float32Array(8) }]])));
  write('not-safetensors.txt', new TextEncoder().encode('hello'));
  mkdirSync(join(dir, 'empty-folder'));

  const cases: [string, string[], RegExp][] = [
    ['missing model file', ['inspect', 'nope.safetensors'], /nope\.safetensors: cannot be read \(no such file\)/],
    ['a folder without a model', ['inspect', 'empty-folder'], /empty-folder: folder holds no model file \(\.safetensors, \.pt, \.pth, \.bin, \.ckpt, \.pkl\)/],
    ['not a safetensors file', ['inspect', 'not-safetensors.txt'], /not-safetensors\.txt: not a \.safetensors file/],
    ['unknown built-in', ['inspect', 'builtin:nothing'], /builtin:nothing: no built-in teacher.*moons-mlp/],
    ['mlp with missing tensors', ['inspect', 'mlp-missing.safetensors'], /mlp-missing\.safetensors: missing tensor 'map_layer0\.weight'.*\(and 10 more\)/],
    ['analytic teacher with tensors', ['inspect', 'mixture-with-tensors.safetensors'], /takes no tensors/],
    ['noise of the wrong shape', ['sample', '--model', 'teacher.safetensors', '--noise', 'noise-3d.safetensors', '--out', 'x.safetensors'], /noise-3d\.safetensors: tensor "z" has shape \[4, 3\].*\[n, 2\]/],
    ['noise without z', ['sample', '--model', 'teacher.safetensors', '--noise', 'noise-named-x.safetensors', '--out', 'x.safetensors'], /noise-named-x\.safetensors: has no tensor "z"/],
    ['missing noise file', ['sample', '--model', 'teacher.safetensors', '--noise', 'gone.safetensors', '--out', 'x.safetensors'], /gone\.safetensors: cannot be read/],
    ['both --n and --noise', ['sample', '--model', 'teacher.safetensors', '--n', '3', '--noise', 'noise-3d.safetensors', '--out', 'x.safetensors'], /either --n K/],
    ['a non-number', ['sample', '--model', 'teacher.safetensors', '--n', 'many', '--out', 'x.safetensors'], /--n needs an integer \(got 'many'\)/],
    ['unknown option', ['distill', '--teacher', 'teacher.safetensors', '--out', 's.safetensors', '--speed', '3'], /unknown option --speed/],
    ['unknown loss', ['distill', '--teacher', 'teacher.safetensors', '--out', 's.safetensors', '--loss', 'lpips'], /--loss must be one of l2, l1, pseudo-huber/],
    ['bad student network', ['distill', '--teacher', 'teacher.safetensors', '--out', 's.safetensors', '--student-network', '{"type":"mlp","hidden":-3}'], /--student-network.*hidden/],
    ['student network not JSON', ['distill', '--teacher', 'teacher.safetensors', '--out', 's.safetensors', '--student-network', '{mlp'], /--student-network is not valid JSON/],
    ['unwritable output', ['sample', '--model', 'teacher.safetensors', '--n', '2', '--out', 'no/such/dir/x.safetensors'], /^pid-studio sample: --out no\/such\/dir\/x\.safetensors cannot be written: the folder no\/such\/dir does not exist$/],
    ['unknown command', ['train'], /unknown command 'train'/],
  ];
  it(`${cases.length} cases: exit 2, one clear line each`, async () => {
    const results = await pool(cases, 2, ([, args]) => runCli(args, dir));
    results.forEach((r, i) => expectOneLineError(r, cases[i][2]));
  });
});

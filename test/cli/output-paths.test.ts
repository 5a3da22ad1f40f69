/** Output paths are checked before any work: a run into a missing folder fails at once, exit 2, in one line. */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args';
import { checkWritableOutputs, whyNotWritable } from '../../src/cli/output-paths';
import { writeSafetensors } from '../../src/formats/safetensors';
import { runInProcess } from './in-process';

const dir = mkdtempSync(join(tmpdir(), 'pid-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'folder'));
writeFileSync(join(dir, 'plain-file'), 'x');
writeFileSync(join(dir, 'x.safetensors'), writeSafetensors(new Map([['x', { shape: [2, 2], data: new Float32Array(4) }]])));
writeFileSync(join(dir, 'sigma.safetensors'), writeSafetensors(new Map([['sigma', { shape: [2], data: new Float32Array([1, 2]) }]])));
const isRoot = process.getuid?.() === 0;

describe('whyNotWritable', () => {
  it('names what is wrong with the path, and nothing for a path that can be written', () => {
    expect(whyNotWritable(join(dir, 'new.safetensors'))).toBeNull();
    expect(whyNotWritable(join(dir, 'plain-file'))).toBeNull(); // an existing file is replaced
    expect(whyNotWritable(join(dir, 'no', 'such', 'f.safetensors'))).toBe(`the folder ${join(dir, 'no', 'such')} does not exist`);
    expect(whyNotWritable(join(dir, 'folder'))).toBe('it is a folder; give a file path');
    expect(whyNotWritable(join(dir, 'plain-file', 'f.safetensors'))).toBe(`${join(dir, 'plain-file')} is not a folder`);
    expect(whyNotWritable('')).toBe('the path is empty');
    expect(readdirSync(dir).sort()).toEqual(['folder', 'plain-file', 'sigma.safetensors', 'x.safetensors']); // the checks wrote nothing
  });

  it.skipIf(isRoot)('refuses a folder and a file without write permission (root may write anywhere: skipped as root)', () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    writeFileSync(join(locked, 'f'), '');
    chmodSync(join(locked, 'f'), 0o444);
    chmodSync(locked, 0o555);
    try {
      expect(whyNotWritable(join(locked, 'new'))).toBe(`the folder ${locked} is not writable`);
      expect(whyNotWritable(join(locked, 'f'))).toBe('the file is not writable');
    } finally {
      chmodSync(locked, 0o755);
      rmSync(locked, { recursive: true });
    }
  });

  it('checkWritableOutputs throws one usage line naming the flag, the path and why', () => {
    const bad = join(dir, 'gone', 'm.jsonl');
    expect(() => checkWritableOutputs([{ flag: '--out', path: join(dir, 's.safetensors') }, { flag: '--log', path: bad, append: true }], 'distill'))
      .toThrow(new UsageError(`distill: --log ${bad} cannot be written: the folder ${join(dir, 'gone')} does not exist`));
    expect(() => checkWritableOutputs([{ flag: '--out', path: join(dir, 's.safetensors') }], 'distill')).not.toThrow();
  });
});

function expectRefusedAtOnce(r: { code: number; out: string[]; err: string[] }, command: string, flag: string, path: string, why: RegExp): void {
  expect(r.code, r.err.join('\n')).toBe(2);
  expect(r.err).toHaveLength(1);
  expect(r.err[0]).toMatch(new RegExp(`^pid-studio ${command}: ${flag} ${path.replace(/[.]/g, '\\.')} cannot be written: `));
  expect(r.err[0]).toMatch(why);
  expect(r.err[0]).not.toMatch(new RegExp(`${command}: ${command}:`));
  // Nothing ran: no "distilling ..." header, no progress line, no "wrote" line.
  expect(r.out).toEqual([]);
}

describe('distill refuses unwritable --out, --log and --checkpoint before the first step', () => {
  const base = ['distill', '--teacher', 'builtin:gaussian', '--steps', '3', '--batch', '8'];
  const cases: [flag: string, args: string[], path: string, why: RegExp][] = [
    ['--out', ['--out', 'missing/s.safetensors'], 'missing/s.safetensors', /the folder missing does not exist$/],
    ['--log', ['--out', 's1.safetensors', '--log', 'missing/m.jsonl'], 'missing/m.jsonl', /the folder missing does not exist$/],
    ['--log', ['--out', 's2.safetensors', '--log', 'folder'], 'folder', /it is a folder/],
    ['--checkpoint', ['--out', 's3.safetensors', '--log', 'm3.jsonl', '--checkpoint', 'plain-file/c.safetensors'], 'plain-file/c.safetensors', /plain-file is not a folder$/],
  ];
  for (const [flag, args, path, why] of cases) {
    it(`${flag} ${path}: exit 2, one line, no file written`, async () => {
      const r = await runInProcess([...base, ...args], dir);
      expectRefusedAtOnce(r, 'distill', flag, path, why);
      for (const f of ['s1.safetensors', 's2.safetensors', 's3.safetensors', 'm3.jsonl']) expect(existsSync(join(dir, f)), f).toBe(false);
    });
  }
});

describe('the other commands check --out before reading their model', () => {
  // The model does not exist: a refusal that names --out shows the check came first.
  const cases: [command: string, args: string[]][] = [
    ['sample', ['sample', '--model', 'no-model.safetensors', '--n', '4', '--out', 'missing/x.safetensors']],
    ['convert', ['convert', 'no-model.safetensors', '--out', 'missing/x.safetensors']],
    ['denoise', ['denoise', '--model', 'no-model.safetensors', '--x', 'x.safetensors', '--sigma', 'sigma.safetensors', '--out', 'missing/x.safetensors']],
    ['export', ['export', 'no-model.safetensors', '--format', 'pytorch', '--out', 'missing/x.safetensors']],
  ];
  for (const [command, args] of cases) {
    it(`${command}: exit 2, one line naming --out`, async () => {
      expectRefusedAtOnce(await runInProcess(args, dir), command, '--out', 'missing/x.safetensors', /the folder missing does not exist$/);
    });
  }

  it('sample with a writable --out still runs', async () => {
    const r = await runInProcess(['sample', '--model', 'builtin:ring8', '--n', '4', '--steps', '4', '--backend', 'cpu', '--out', 'ok.safetensors'], dir);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(existsSync(join(dir, 'ok.safetensors'))).toBe(true);
  });
});

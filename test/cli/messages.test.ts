/**
 * What the CLI says: --help lists every flag each command's parser accepts (and no other), usage errors carry the
 * command's name once, no message speaks of dropping files, a folder with several models names them.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { OptionKind } from '../../src/cli/args';
import { CONVERT_OPTIONS } from '../../src/cli/convert';
import { DENOISE_OPTIONS } from '../../src/cli/denoise';
import { DISTILL_OPTIONS } from '../../src/cli/distill';
import { EVAL_OPTIONS } from '../../src/cli/eval';
import { EXPORT_OPTIONS } from '../../src/cli/export';
import { EXPORT_RUN_OPTIONS } from '../../src/cli/export-run';
import { INSPECT_OPTIONS } from '../../src/cli/inspect';
import { SAMPLE_OPTIONS } from '../../src/cli/sample';
import { SWEEP_OPTIONS } from '../../src/cli/sweep';
import { readAnyModel } from '../../src/core/model-import';
import { writeSafetensors } from '../../src/formats/safetensors';
import { brokenModelFiles } from '../formats/broken-files';
import { runInProcess } from './in-process';

const dir = mkdtempSync(join(tmpdir(), 'pid-msg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The parsers' own option tables: a flag added to a parser and not to the help fails here.
const SPECS: Record<string, Record<string, OptionKind>> = {
  inspect: INSPECT_OPTIONS, sample: SAMPLE_OPTIONS, distill: DISTILL_OPTIONS, denoise: DENOISE_OPTIONS,
  convert: CONVERT_OPTIONS, export: EXPORT_OPTIONS, eval: EVAL_OPTIONS, sweep: SWEEP_OPTIONS, 'export-run': EXPORT_RUN_OPTIONS,
};
/** The flags a help block documents: the first word of each "    --flag ..." line. */
const documented = (help: string) => help.split('\n').map((l) => l.match(/^ {4}--([\w-]+)/)?.[1]).filter((f): f is string => f !== undefined);

describe('pid-studio --help', () => {
  it('lists every flag of every command, and pid-studio COMMAND --help the same flags', async () => {
    const full = await runInProcess(['--help'], dir);
    expect(full.code).toBe(0);
    const text = full.out.join('\n');
    for (const [command, spec] of Object.entries(SPECS)) {
      const own = await runInProcess([command, '--help'], dir);
      expect(own.code, command).toBe(0);
      expect(own.err).toEqual([]);
      expect(own.out[0]).toMatch(new RegExp(`^pid-studio ${command}: `));
      expect(documented(own.out.join('\n')).sort(), command).toEqual(Object.keys(spec).sort());
      expect(text, command).toContain(own.out.join('\n')); // the full help holds each command's block
    }
    expect(documented(text)).toHaveLength(Object.values(SPECS).reduce((s, spec) => s + Object.keys(spec).length, 0));
  });

  it("documents distill's run flags, presets and evaluation cadence", async () => {
    const text = (await runInProcess(['distill', '-h'], dir)).out.join('\n');
    for (const flag of ['lr-final', 'checkpoint', 'checkpoint-every', 'resume']) expect(text).toMatch(new RegExp(`\\n {4}--${flag} `));
    expect(text).toContain('--preset quick|paper (settings preset; default quick)');
    expect(text).toContain("--eval-every K (steps between progress lines with the trajectory error; default: the plan's (the first within about a minute), else steps/10)");
    expect(text).toContain('--micro-batch M (samples per forward and backward pass, gradients accumulated over the batch; default: the most that fit in memory)');
  });

  it('an unknown command points at --help; no command prints the help with exit 2', async () => {
    expect((await runInProcess(['train'], dir)).err).toEqual(["pid-studio: unknown command 'train' (commands: inspect, sample, distill, sweep, eval, denoise, convert, export, export-run; see pid-studio --help)"]);
    const none = await runInProcess([], dir);
    expect(none.code).toBe(2);
    expect(none.out.join('\n')).toMatch(/^usage: pid-studio <command>/);
  });
});

describe('usage errors name their command once', () => {
  const cases: [string[], RegExp][] = [
    [['distill', '--teacher', 'builtin:gaussian', '--out', 's.safetensors', '--lr', '-1'], /^pid-studio distill: --lr /],
    [['distill', '--out', 's.safetensors'], /^pid-studio distill: --teacher <model \| builtin:NAME> is required$/],
    [['distill', '--teacher', 'builtin:gaussian', '--out', 's.safetensors', '--preset', 'slow'], /^pid-studio distill: --preset must be one of quick, paper/],
    [['sample', '--model', 'builtin:ring8', '--n', '0', '--out', 'x.safetensors'], /^pid-studio sample: --n must be at least 1$/],
    [['sample', '--model', 'builtin:ring8', '--n', '2', '--out', 'x.safetensors', '--backend', 'tpu'], /^pid-studio sample: --backend must be one of wasm, cpu, webgpu \(got 'tpu'\)$/],
    [['eval', '--n', '10'], /^pid-studio eval: --model <model> is required$/],
    [['export', 's.safetensors', '--format', 'onnx'], /^pid-studio export: --format must be pytorch or diffusers/],
    [['convert', 'x.pt', '--speed', '2'], /^pid-studio convert: unknown option --speed \(known: --out, --precond, --name\)$/],
    [['denoise', '--model', 'builtin:ring8'], /^pid-studio denoise: --x <file> is required$/],
  ];
  for (const [args, want] of cases) {
    it(args.join(' '), async () => {
      const r = await runInProcess(args, dir);
      expect(r.code).toBe(2);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(want);
      expect(r.err[0]).not.toMatch(/^pid-studio (\w+): \1:/);
    });
  }
});

describe('no browser wording in CLI messages', () => {
  it('the broken model files, refused by inspect, never say "drop"', async () => {
    const cases = brokenModelFiles();
    for (const c of cases) writeFileSync(join(dir, c.name), c.bytes);
    for (const c of cases) {
      const r = await runInProcess(['inspect', c.name], dir);
      expect(r.code, c.name).toBe(2);
      expect(r.err, c.name).toHaveLength(1);
      expect(r.err[0], c.name).not.toMatch(/\bdrop/i);
    }
    // the case that said "drop a config.json alongside"
    const r = await runInProcess(['inspect', 'no-pid-studio.safetensors'], dir);
    expect(r.err[0]).toMatch(/Fix: add the config, give a config\.json together with it \(both files at once, or a folder of both\)/);
  });
});

describe('a folder with several model files', () => {
  it('names them and asks to pick one, in the CLI and for files given together', async () => {
    const folder = join(dir, 'two-models');
    mkdirSync(folder);
    const w = writeSafetensors(new Map([['w', { shape: [1], data: new Float32Array(1) }]]));
    for (const name of ['a.safetensors', 'b.pt', 'c.ckpt']) writeFileSync(join(folder, name), w);
    writeFileSync(join(folder, 'notes.txt'), 'not a model');
    const r = await runInProcess(['inspect', 'two-models'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toEqual([`pid-studio inspect: two-models: folder holds 3 model files (a.safetensors, b.pt, c.ckpt), not one. Fix: pick one: give its path, e.g. ${join('two-models', 'a.safetensors')}`]);

    const config = new TextEncoder().encode('{}');
    const given = readAnyModel([{ name: 'x/config.json', bytes: config }, { name: 'x/a.safetensors', bytes: w }, { name: 'x/b.safetensors', bytes: w }]);
    await expect(given).rejects.toThrow(/^a\.safetensors, b\.safetensors: 2 model files given, a model is one of them\. Fix: pick one: give only the file of the model you mean/);
  });
});

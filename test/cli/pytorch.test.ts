/**
 * PyTorch state dicts through the real CLI: an EDM SongUNet saved as EDMPrecond's state dict ("model." keys) is
 * inspected, converted, denoised, sampled with class labels, distilled, and its student exported back to PyTorch
 * (checked with torch.load(weights_only=True) + load_state_dict(strict=True): test/torch/check_state_dicts.py).
 * Hostile files are refused in one line within a second. Needs Debian's python3-torch at /usr/bin/python3.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import type { EdmSongUnetNetwork } from '../../src/formats/edm-networks';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { readTorchStateDict, writeTorchStateDict } from '../../src/formats/torch-file';
import { writeStoredZip } from '../../src/formats/zip';
import { readFileSync } from 'node:fs';
import { runCli } from './run-cli';

const dir = mkdtempSync(join(tmpdir(), 'pid-cli-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** DDPM++ options (positional embedding, standard encoder/decoder, [1,1]) with map_augment, 8x8x3: tiny but complete. */
const DDPMPP: EdmSongUnetNetwork = {
  type: 'edm-songunet', img_resolution: 8, in_channels: 3, out_channels: 3, label_dim: 0, augment_dim: 9, model_channels: 8,
  channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4], dropout: 0, label_dropout: 0,
  embedding_type: 'positional', channel_mult_noise: 1, encoder_type: 'standard', decoder_type: 'standard', resample_filter: [1, 1],
};
/** NCSN++ options (Fourier embedding, residual encoder, [1,3,3,1]), class-conditional with 3 classes. */
const NCSNPP_COND: EdmSongUnetNetwork = {
  ...DDPMPP, label_dim: 3, augment_dim: 0, embedding_type: 'fourier', channel_mult_noise: 2, encoder_type: 'residual', resample_filter: [1, 3, 3, 1],
};

/** Random weights (zero-initialised layers too) as EDMPrecond's state dict: every key under "model.". */
function writeEdmStateDict(spec: EdmSongUnetNetwork, file: string, seed: number): void {
  const host = initParams(spec, [8, 8, 3], new Rng(seed));
  const rng = new Rng(seed + 1);
  for (const [name, t] of host) {
    if (name.endsWith('resample_filter') || name.endsWith('freqs')) continue; // fixed buffers keep their values
    for (let i = 0; i < t.data.length; i++) t.data[i] = 0.1 * rng.normal();
  }
  writeFileSync(join(dir, file), writeTorchStateDict(new Map([...host].map(([name, t]) => [`model.${name}`, t]))));
}
writeEdmStateDict(DDPMPP, 'ddpmpp.pt', 1);
writeEdmStateDict(NCSNPP_COND, 'ncsnpp-cond.pt', 2);

const tensorFile = (name: string, tensor: string, shape: number[], values: (i: number) => number) => {
  const size = shape.reduce((a, b) => a * b, 1);
  writeFileSync(join(dir, name), writeSafetensors(new Map([[tensor, { shape, data: Float32Array.from({ length: size }, (_, i) => values(i)) }]])));
};
const SIGMAS = [0.002, 0.07, 2.5, 80];
tensorFile('x.safetensors', 'x', [4, 8, 8, 3], (i) => Math.sin(i * 0.37) * (1 + SIGMAS[Math.floor(i / 192)]));
tensorFile('sigma.safetensors', 'sigma', [4], (i) => SIGMAS[i]);
tensorFile('labels.safetensors', 'labels', [4, 3], (i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0));

const readD = (name: string) => readSafetensors(new Uint8Array(readFileSync(join(dir, name))), name).tensors.get('D')!.data;

function expectOneLineError(r: { code: number | null; stderr: string }, mention: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(mention);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:/);
}

function checkWithTorch(pairs: { original: string; exported: string; drop_prefix?: string; drop?: string[] }[]): { ok: boolean; problems: string[] } {
  const manifest = join(dir, 'manifest.json');
  writeFileSync(manifest, JSON.stringify({ pairs: pairs.map((p) => ({ ...p, original: join(dir, p.original), exported: join(dir, p.exported) })) }));
  let stdout: string;
  try {
    stdout = execFileSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'torch', 'check_state_dicts.py'), manifest], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  } catch (e) {
    throw new Error(`/usr/bin/python3 with torch is needed (install Debian's python3-torch, as CI does): ${String((e as { stderr?: string }).stderr ?? e)}`);
  }
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('pid-studio on PyTorch state dicts', () => {
  it('inspect names the detected network, its parameters, precond (assumed), label_dim and the weights taken', async () => {
    const r = await runCli(['inspect', 'ddpmpp.pt'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ddpmpp\.pt: valid PyTorch state dict, read as a teacher "ddpmpp"/);
    expect(r.stdout).toMatch(/weights +state dict, key prefix 'model\.' stripped/);
    expect(r.stdout).toMatch(/label_dim 0 \(unconditional\)/);
    expect(r.stdout).toMatch(/precond +edm \(assumed/);
    expect(r.stdout).toMatch(/network +EDM SongUNet \(DDPM\+\+\): edm-songunet \{"img_resolution":8,/);
    expect(r.stdout).toMatch(/"augment_dim":9/);
    expect(r.stdout).toMatch(/parameters +[\d,]+ in \d+ tensors/);
    const c = await runCli(['inspect', 'ncsnpp-cond.pt', '--precond', 'vp'], dir);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/EDM SongUNet \(NCSN\+\+\)/);
    expect(c.stdout).toMatch(/label_dim 3 \(class-conditional\)/);
    expect(c.stdout).toMatch(/precond +vp \{"beta_d":19\.9,"beta_min":0\.1,"M":1000,"epsilon_t":0\.00001\}\n/);
  });

  it('convert writes a teacher file that denoises exactly as the .pt; the precond changes D', async () => {
    const conv = await runCli(['convert', 'ncsnpp-cond.pt', '--precond', 've', '--out', 'ncsnpp.safetensors', '--name', 'NCSN++ test'], dir);
    expect(conv.code, conv.stderr).toBe(0);
    expect(conv.stdout).toMatch(/teacher "NCSN\+\+ test", network edm-songunet, precond ve/);
    const args = (model: string, out: string, extra: string[] = []) => ['denoise', '--model', model, '--x', 'x.safetensors', '--sigma', 'sigma.safetensors', '--labels', 'labels.safetensors', ...extra, '--out', out];
    for (const [model, out, extra] of [['ncsnpp-cond.pt', 'D-pt.safetensors', ['--precond', 've']], ['ncsnpp.safetensors', 'D-st.safetensors', []], ['ncsnpp-cond.pt', 'D-edm.safetensors', []]] as const) {
      const r = await runCli(args(model, out, [...extra]), dir);
      expect(r.code, r.stderr).toBe(0);
    }
    const fromPt = readD('D-pt.safetensors');
    expect(fromPt.every(Number.isFinite)).toBe(true);
    expect(readD('D-st.safetensors')).toEqual(fromPt);
    const edm = readD('D-edm.safetensors');
    expect(Math.max(...edm.map((v, i) => Math.abs(v - fromPt[i])))).toBeGreaterThan(1e-3);
    // a file with a config keeps its own precond
    const clash = await runCli(args('ncsnpp.safetensors', 'D-x.safetensors', ['--precond', 'edm']), dir);
    expectOneLineError(clash, /ncsnpp\.safetensors: its config says precond "ve", not "edm"/);
  });

  it('sample takes --class and --labels for class-conditional models and refuses them for unconditional ones', async () => {
    const ok = await runCli(['sample', '--model', 'ncsnpp-cond.pt', '--n', '4', '--class', '2', '--steps', '2', '--out', 'cls.safetensors'], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/4 samples of \[8, 8, 3\] \(class 2\)/);
    const labels = await runCli(['sample', '--model', 'ncsnpp-cond.pt', '--n', '4', '--labels', 'labels.safetensors', '--steps', '2', '--out', 'lab.safetensors'], dir);
    expect(labels.code, labels.stderr).toBe(0);
    expectOneLineError(await runCli(['sample', '--model', 'ncsnpp-cond.pt', '--n', '4', '--class', '3', '--out', 'o.safetensors'], dir), /--class must be an integer in 0 \.\. 2 \(got 3\)/);
    expectOneLineError(await runCli(['sample', '--model', 'ddpmpp.pt', '--n', '4', '--class', '0', '--out', 'o.safetensors'], dir), /unconditional \(data\.label_dim 0\)/);
    expectOneLineError(await runCli(['sample', '--model', 'ncsnpp-cond.pt', '--n', '5', '--labels', 'labels.safetensors', '--out', 'o.safetensors'], dir), /tensor "labels" has shape \[4, 3\], a labels file for this model needs \[5, 3\]/);
  });

  it('distills a class-conditional EDM teacher into a student of the same network, exported for EDM and for the PID reference code', async () => {
    const d = await runCli(['distill', '--teacher', 'ncsnpp-cond.pt', '--steps', '3', '--batch', '2', '--N', '8', '--out', 'student.safetensors'], dir, 120_000);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/into a edm-songunet student \([\d,]+ parameters, initialised from the teacher's weights\)/);
    const i = await runCli(['inspect', 'student.safetensors'], dir);
    expect(i.stdout).toMatch(/pid-studio student/);
    expect(i.stdout).toMatch(/label_dim 3/);
    const s = await runCli(['sample', '--model', 'student.safetensors', '--n', '3', '--class', '1', '--out', 'one-step.safetensors'], dir);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/student, one step \(1 NFE\)/);
    expect((await runCli(['export', 'student.safetensors', '--format', 'pytorch', '--out', 'student.pt'], dir)).code).toBe(0);
    const pid = await runCli(['export', 'student.safetensors', '--format', 'pytorch', '--keys', 'pid', '--out', 'model000003.pt'], dir);
    expect(pid.code, pid.stderr).toBe(0);
    expect(pid.stdout).toMatch(/under the PID reference code's names/);
    const check = checkWithTorch([
      { original: 'ncsnpp-cond.pt', exported: 'student.pt' },
      { original: 'ncsnpp-cond.pt', exported: 'model000003.pt', drop_prefix: 'model.', drop: ['map_augment.'] },
    ]);
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    // the check can fail: a teacher file is not its student with the prefix dropped
    expect(checkWithTorch([{ original: 'ncsnpp-cond.pt', exported: 'student.pt', drop_prefix: 'model.' }]).ok).toBe(false);
  });

  it('distills a teacher with map_augment (unused without augmentation labels: it stays as the teacher had it)', async () => {
    const d = await runCli(['distill', '--teacher', 'ddpmpp.pt', '--steps', '2', '--batch', '2', '--N', '8', '--ema', '0', '--out', 'ddpmpp-student.safetensors'], dir, 120_000);
    expect(d.code, d.stderr).toBe(0);
    const student = readSafetensors(new Uint8Array(readFileSync(join(dir, 'ddpmpp-student.safetensors'))), 'student').tensors;
    const teacher = readTorchStateDict(new Uint8Array(readFileSync(join(dir, 'ddpmpp.pt'))), 'teacher').tensors;
    expect(student.get('map_augment.weight')!.data).toEqual(teacher.get('map_augment.weight')!.data);
    expect(student.get('map_layer0.weight')!.data).not.toEqual(teacher.get('map_layer0.weight')!.data); // trained
  });

  it('refuses hostile and broken PyTorch files in one line, within a second, running nothing', async () => {
    const marker = join(dir, 'pwned');
    const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
    // PROTO 2, GLOBAL posix.system, SHORT_BINUNICODE 'touch <marker>', TUPLE1, REDUCE, STOP
    const command = `touch ${marker}`;
    const exploit = new Uint8Array([0x80, 2, 0x63, ...ascii('posix\nsystem\n'), 0x8c, command.length, ...ascii(command), 0x85, 0x52, 0x2e]);
    const zip = (pkl: Uint8Array) => writeStoredZip([{ name: 'archive/data.pkl', bytes: pkl }, { name: 'archive/version', bytes: new TextEncoder().encode('3\n') }]);
    writeFileSync(join(dir, 'exploit.pt'), zip(exploit));
    // a pickled module object: GLOBAL __main__.Net, EMPTY_TUPLE, NEWOBJ, STOP
    writeFileSync(join(dir, 'module.pt'), zip(new Uint8Array([0x80, 2, 0x63, ...ascii('__main__\nNet\n'), 0x29, 0x81, 0x2e])));
    const good = readFileSync(join(dir, 'ddpmpp.pt'));
    writeFileSync(join(dir, 'truncated.pt'), good.subarray(0, Math.floor(good.length / 2)));
    const cases: [string, RegExp][] = [
      ['exploit.pt', /exploit\.pt: the pickle needs the global 'posix\.system'.*Fix: save the weights as a state dict/],
      ['module.pt', /module\.pt: the pickle needs the global '__main__\.Net'/],
      ['truncated.pt', /truncated\.pt: /],
    ];
    for (const [file, mention] of cases) {
      const start = Date.now();
      const r = await runCli(['inspect', file], dir);
      expectOneLineError(r, mention);
      expect(Date.now() - start, file).toBeLessThan(5000); // the process start included; the read itself is milliseconds
    }
    expect(existsSync(marker)).toBe(false);
    mkdirSync(join(dir, 'two'));
    writeFileSync(join(dir, 'two', 'a.pt'), good);
    writeFileSync(join(dir, 'two', 'b.pt'), good);
    expectOneLineError(await runCli(['inspect', 'two'], dir), /two: folder holds 2 model files \(a\.pt, b\.pt\), not one\. Fix: pick one: give its path, e\.g\. two\/a\.pt/);
  });
});

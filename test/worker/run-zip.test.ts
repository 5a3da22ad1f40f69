/**
 * "Run on your GPUs": the worker's export-run command zips the run folder `pid-studio export-run` writes (the same
 * run.json for the same teacher and settings), with torch/train.py, run.sh and a README; the zip opens with the
 * project's reader and with Python's zipfile, and (where /usr/bin/python3 has torch) the unpacked folder trains.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distillSettings } from '../../src/cli/distill';
import { startBackend } from '../../src/core/backend';
import { initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { readModelFile } from '../../src/formats/model-file';
import { readSafetensors } from '../../src/formats/safetensors';
import { readStoredZip } from '../../src/formats/zip';
import { StudioController } from '../../src/worker/controller';
import type { WorkerCommand, WorkerEvent } from '../../src/worker/protocol';
import { runZip } from '../../src/worker/run-zip';
import { runInProcess } from '../cli/in-process';

const PYTHON = '/usr/bin/python3';
const hasPython = spawnSync(PYTHON, ['-c', 'import zipfile'], { encoding: 'utf8' }).status === 0;
const hasTorch = hasPython && spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'pid-run-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const teacherBytes = (file: string) => new Uint8Array(readFileSync(`public/teachers/${file}`));

function controller() {
  const events: WorkerEvent[] = [];
  const c = new StudioController({
    emit: (e) => { events.push(e); },
    startBackend: async (choice) => ({ asked: choice, got: (await startBackend('cpu')).got, adapter: null }),
    fetchBytes: async (url) => teacherBytes(url.split('/').pop()!),
    yieldToEvents: () => new Promise((r) => setTimeout(r, 0)),
    now: () => 0,
  });
  return { c, events };
}

async function exportRun(c: StudioController, events: WorkerEvent[], cmd: Extract<WorkerCommand, { type: 'export-run' }>) {
  await c.handle(cmd);
  const reply = events.find((e) => 'requestId' in e && e.requestId === cmd.requestId);
  if (!reply) throw new Error('no reply');
  return reply;
}

function unzipped(bytes: Uint8Array): Map<string, Uint8Array> {
  const zip = readStoredZip(bytes, 'run.zip');
  return new Map([...zip.entries.keys()].map((name) => [name, zip.read(name)]));
}
const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('the "Run on your GPUs" zip', () => {
  beforeAll(async () => { await startBackend('cpu'); });

  it('holds the run folder export-run writes for the same teacher and settings, the trainer, run.sh and a README', async () => {
    const { c, events } = controller();
    await c.handle({ type: 'init', backend: 'cpu' });
    await c.handle({ type: 'load-teacher', source: { kind: 'builtin', id: 'moons-mlp', url: '/teachers/moons-mlp.safetensors' } });
    const settings = distillSettings({ preset: 'paper', steps: 4, batch: 32, seed: 5 });
    const reply = await exportRun(c, events, { type: 'export-run', requestId: 3, settings });
    expect(reply.type, JSON.stringify(reply).slice(0, 300)).toBe('run-zip');
    if (reply.type !== 'run-zip') return;
    expect(reply.fileName).toBe('moons-mlp-run.zip');
    const files = unzipped(reply.bytes);
    expect([...files.keys()].sort()).toEqual(['README.txt', 'run.json', 'run.sh', 'teacher.safetensors', 'torch/pid_torch.py', 'torch/train.py']
      .map((n) => `moons-mlp-run/${n}`).sort());
    const at = (n: string) => files.get(`moons-mlp-run/${n}`)!;
    expect(text(at('torch/train.py'))).toBe(readFileSync('torch/train.py', 'utf8'));
    expect(text(at('torch/pid_torch.py'))).toBe(readFileSync('torch/pid_torch.py', 'utf8'));

    const cli = await runInProcess(['export-run', '--teacher', 'builtin:moons-mlp', '--out', 'cli', '--preset', 'paper', '--steps', '4', '--batch', '32', '--seed', '5'], dir);
    expect(cli.code, cli.err.join('\n')).toBe(0);
    const want = JSON.parse(readFileSync(join(dir, 'cli', 'run.json'), 'utf8'));
    const run = json(at('run.json'));
    const { command, createdAt, ...rest } = run;
    const { command: cliCommand, createdAt: _c, ...cliRest } = want;
    expect(rest).toEqual(cliRest);
    expect(run.settings).toEqual(settings);
    expect(Date.parse(createdAt)).not.toBeNaN();
    expect(command).toBe('torchrun --nproc_per_node=1 torch/train.py . --out student.safetensors');
    expect(cliCommand).toBe('torchrun --nproc_per_node=1 torch/train.py cli --out student.safetensors');
    expect(at('teacher.safetensors')).toEqual(new Uint8Array(readFileSync(join(dir, 'cli', 'teacher.safetensors'))));

    expect(text(at('run.sh'))).toMatch(/^#!\/bin\/sh\n[^]*cd "\$\(dirname "\$0"\)"\nexec torchrun --nproc_per_node="\$\{NPROC:-1\}" torch\/train\.py \. --out student\.safetensors "\$@"\n$/);
    const readme = text(at('README.txt'));
    expect(readme).toContain('torchrun --nproc_per_node=K torch/train.py . --out student.safetensors');
    expect(readme).toContain('"Open a student"');
    expect(readme).toContain(run.teacher.sha256);
    expect(readme).toContain('4 steps, batch 32');
  });

  it('gives a fresh student its initialisation, and refuses with a clear error', async () => {
    const settings = distillSettings({ seed: 2 });
    const ring = { files: [{ name: 'ring8.safetensors', bytes: teacherBytes('ring8.safetensors') }], source: { kind: 'builtin' as const, id: 'ring8' } };
    const { fileName, bytes } = await runZip(ring, settings, new Date(0));
    expect(fileName).toBe('ring8-run.zip');
    const files = unzipped(bytes);
    const run = json(files.get('ring8-run/run.json')!);
    expect(run.createdAt).toBe('1970-01-01T00:00:00.000Z');
    expect(run.student).toMatchObject({ fromTeacher: false, init: 'student-init.safetensors', network: { type: 'mlp' } });
    const init = readSafetensors(files.get('ring8-run/student-init.safetensors')!, 'init').tensors;
    const want = initParams(run.student.network, [2], new Rng(settings.seed + 1));
    for (const [name, t] of want) expect(init.get(name)!.data).toEqual(t.data);
    expect(text(files.get('ring8-run/README.txt')!)).toContain('student-init.safetensors');
    const teacher = await readModelFile([{ name: 't.safetensors', bytes: files.get('ring8-run/teacher.safetensors')! }]);
    expect(teacher.config.network.type).toBe('gaussian-mixture');

    const { c, events } = controller();
    await c.handle({ type: 'init', backend: 'cpu' });
    const none = await exportRun(c, events, { type: 'export-run', requestId: 1, settings });
    expect(none).toEqual({ type: 'error', scope: 'export', requestId: 1, message: 'no teacher is loaded: choose a built-in teacher or drop a model file' });
    await c.handle({ type: 'load-teacher', source: { kind: 'builtin', id: 'moons-mlp', url: '/teachers/moons-mlp.safetensors' } });
    const bad = await exportRun(c, events, { type: 'export-run', requestId: 2, settings: { ...settings, lr: 0 } });
    expect(bad).toMatchObject({ type: 'error', scope: 'export', requestId: 2 });
    expect(bad.type === 'error' && bad.message).toMatch(/^the run's settings are not valid: Learning rate must be greater than 0/);
  });

  it.skipIf(!hasPython)("opens in Python's zipfile with run.sh executable, and (with torch) the unpacked folder trains", async () => {
    const moons = { files: [{ name: 'moons-mlp.safetensors', bytes: teacherBytes('moons-mlp.safetensors') }], source: { kind: 'builtin' as const, id: 'moons-mlp' } };
    const { fileName, bytes } = await runZip(moons, distillSettings({ steps: 3, batch: 16, seed: 1 }));
    const zipPath = join(dir, fileName);
    writeFileSync(zipPath, bytes);
    const script = [
      'import sys, zipfile, stat',
      'z = zipfile.ZipFile(sys.argv[1])',
      'assert z.testzip() is None',
      'for i in z.infolist():',
      '    print(i.filename, oct(stat.S_IMODE(i.external_attr >> 16)))',
      'z.extractall(sys.argv[2])',
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script, zipPath, join(dir, 'out')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('moons-mlp-run/run.sh 0o755');
    expect(r.stdout).toContain('moons-mlp-run/run.json 0o0');
    const folder = join(dir, 'out', 'moons-mlp-run');
    expect(statSync(join(folder, 'teacher.safetensors')).size).toBe(unzipped(bytes).get('moons-mlp-run/teacher.safetensors')!.length);
    if (!hasTorch) return;
    // what run.sh runs, as one process: python torch/train.py . --out student.safetensors, from the folder
    const t = spawnSync(PYTHON, ['torch/train.py', '.', '--out', 'student.safetensors', '--device', 'cpu'],
      { cwd: folder, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' } });
    expect(t.status, t.stdout + t.stderr).toBe(0);
    const student = await readModelFile([{ name: 'student.safetensors', bytes: new Uint8Array(readFileSync(join(folder, 'student.safetensors'))) }]);
    expect(student.config.role).toBe('student');
    expect(student.config.student?.pid).toMatchObject({ steps: 3, batch: 16, seed: 1 });
  }, 120_000);
});

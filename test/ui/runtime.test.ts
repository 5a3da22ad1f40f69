import { afterEach, describe, expect, it, vi } from 'vitest';
import { StudioRuntime, parseIndex } from '../../src/ui/runtime';
import { createStudioStore } from '../../src/ui/store';
import type { WorkerPort } from '../../src/worker/client';
import { type OpenedStudentInfo, type StudentView, type TeacherInfo, type WorkerCommand, type WorkerEvent, runSettingsOf } from '../../src/worker/protocol';
import { BACKEND_SETTLE_MS, fallbackFor } from '../../src/ui/backend-switch';

const INDEX = { default: 'moons-mlp', teachers: [{ id: 'moons-mlp', file: 'moons-mlp.safetensors', name: 'Moons', description: '' }, { id: 'ring8', file: 'ring8.safetensors', name: 'Ring', description: '' }] };

class FakePort implements WorkerPort {
  sent: WorkerCommand[] = [];
  listeners: ((e: MessageEvent) => void)[] = [];
  terminated = false;
  postMessage(m: unknown) { this.sent.push(m as WorkerCommand); }
  addEventListener(type: string, l: (e: never) => void) { if (type === 'message') this.listeners.push(l as (e: MessageEvent) => void); }
  terminate() { this.terminated = true; }
  emit(e: WorkerEvent) { for (const l of this.listeners) l({ data: e } as MessageEvent); }
}

function setup(init?: Parameters<typeof createStudioStore>[0], index: unknown = INDEX, backendStartLimitMs?: number) {
  const ports: FakePort[] = [];
  const urls: string[] = [];
  const downloads: { name: string; blob: Blob }[] = [];
  const store = createStudioStore(init);
  const runtime = new StudioRuntime({
    store,
    makeWorker: () => { const p = new FakePort(); ports.push(p); return p; },
    siteUrl: (path) => `http://host/app/${path}`,
    fetchJson: async () => index,
    download: (name, blob) => downloads.push({ name, blob }),
    writeUrl: (q) => urls.push(q),
    backendStartLimitMs,
  });
  return { store, runtime, ports, urls, downloads };
}

describe('the page runtime', () => {
  it('boots: starts the backend, configures, loads the default teacher from the site folder', async () => {
    const { runtime, ports, store } = setup();
    await runtime.boot();
    expect(ports[0].sent.map((c) => c.type)).toEqual(['init', 'configure', 'load-teacher']);
    expect(ports[0].sent[2]).toEqual({ type: 'load-teacher', source: { kind: 'builtin', id: 'moons-mlp', url: 'http://host/app/teachers/moons-mlp.safetensors' } });
    expect(store.getState().builtins?.teachers).toHaveLength(2);
  });

  it('loads the teacher named in the URL, and reports an unknown one', async () => {
    const a = setup({ teacherId: 'ring8' });
    await a.runtime.boot();
    expect(a.ports[0].sent.at(-1)).toMatchObject({ source: { id: 'ring8' } });
    const b = setup({ teacherId: 'nope' });
    await b.runtime.boot();
    expect(b.ports[0].sent.at(-1)).toMatchObject({ source: { id: 'moons-mlp' } });
    expect(b.store.getState().urlProblems).toEqual(['URL parameter teacher=nope ignored: no built-in teacher has that id; the default is loaded']);
  });

  it('says so when the built-in list cannot be read', async () => {
    const { runtime, store } = setup(undefined, { teachers: 'x' });
    await runtime.boot();
    expect(store.getState().builtinsError).toMatch(/^the built-in teacher list could not be read \(teachers\/index\.json: not a teacher index\)/);
  });

  it('Start sends the settings and puts the whole run in the URL', async () => {
    const { runtime, ports, store, urls } = setup({ settings: { lr: 0.01 } });
    await runtime.boot();
    store.getState().apply({ type: 'backend', backend: { asked: 'auto', got: 'cpu', adapter: null } });
    expect(urls.at(-1)).toBe('?teacher=moons-mlp&lr=0.01');
    runtime.start();
    const { heunSteps, ...run } = store.getState().settings;
    expect(ports[0].sent.at(-1)).toEqual({ type: 'start', settings: run, view: { heunSteps } });
    expect(urls.at(-1)).toBe('?teacher=moons-mlp&N=250&loss=l2&optimizer=radam&lr=0.01&lrFinal=0.001&ema=0.99&batch=32&steps=200&seed=0&evalEvery=20&heunSteps=18');
  });

  it('a new backend means a new worker, and the dropped teacher is sent again', async () => {
    const { runtime, ports, store } = setup();
    await runtime.boot();
    runtime.dropTeacher([{ name: 't.safetensors', bytes: new Uint8Array([1, 2]) }]);
    runtime.setBackend('wasm');
    expect(ports[0].terminated).toBe(true);
    expect(ports[1].sent.map((c) => c.type)).toEqual(['init', 'configure', 'load-teacher']);
    expect(ports[1].sent[0]).toEqual({ type: 'init', backend: 'wasm' });
    expect(ports[1].sent[2]).toMatchObject({ source: { kind: 'files', files: [{ name: 't.safetensors', bytes: new Uint8Array([1, 2]) }] } });
    expect(store.getState().backendChoice).toBe('wasm');
    // events of the new worker reach the store
    ports[1].emit({ type: 'busy', task: 'x' });
    expect(store.getState().busy).toBe('x');
  });

  it('downloads the student and the loss CSV; export errors land in the store', async () => {
    const { runtime, ports, downloads, store } = setup();
    await runtime.boot();
    const p = runtime.downloadStudent();
    const req = ports[0].sent.at(-1) as { requestId: number };
    ports[0].emit({ type: 'student-file', requestId: req.requestId, fileName: 's.safetensors', bytes: new Uint8Array([7]) });
    await p;
    expect(downloads[0].name).toBe('s.safetensors');
    expect(new Uint8Array(await downloads[0].blob.arrayBuffer())).toEqual(new Uint8Array([7]));
    const q = runtime.downloadStudent();
    ports[0].emit({ type: 'error', scope: 'export', message: 'there is no student yet', requestId: (ports[0].sent.at(-1) as { requestId: number }).requestId });
    await q;
    expect(store.getState().exportError).toBe('there is no student yet');
    store.getState().apply({ type: 'metrics', points: [{ step: 1, loss: 0.5, gradNorm: 1, stepMs: 2, time: 3, lr: 0.01 }], memory: { numTensors: 1, numBytes: 4 * 1 } });
    runtime.downloadCsv();
    expect(downloads[1].name).toBe('moons-mlp-pid-loss-0steps.csv');
    expect(await downloads[1].blob.text()).toContain('\n1,0.5,0.5,1,2,3');
  });

  it('"Run on your GPUs" sends the settings Start would send and saves the zip; its errors say what failed', async () => {
    const { runtime, ports, downloads, store } = setup();
    await runtime.boot();
    const p = runtime.downloadRun();
    const req = ports[0].sent.at(-1) as Extract<WorkerCommand, { type: 'export-run' }>;
    expect(req.type).toBe('export-run');
    expect(req.settings).toEqual(runSettingsOf(store.getState().settings));
    ports[0].emit({ type: 'run-zip', requestId: req.requestId, fileName: 'moons-mlp-run.zip', bytes: new Uint8Array([0x50, 0x4b]) });
    await p;
    expect(downloads[0].name).toBe('moons-mlp-run.zip');
    expect(downloads[0].blob.type).toBe('application/zip');
    const q = runtime.downloadRun();
    ports[0].emit({ type: 'error', scope: 'export', message: 'no teacher is loaded', requestId: (ports[0].sent.at(-1) as { requestId: number }).requestId });
    await q;
    expect(store.getState().exportError).toBe('Run on your GPUs: no teacher is loaded');
    expect(downloads).toHaveLength(1);
  });

  it('checks the built-in index', () => {
    expect(() => parseIndex({ default: 'x', teachers: [] })).toThrow("the default teacher 'x' is not in the list");
    expect(() => parseIndex({ default: 'x', teachers: [{ id: 'x' }] })).toThrow('lacks id, file or name');
    expect(parseIndex(INDEX)).toBe(INDEX);
  });

  it('passes the checkpoint interval to the worker, offers a saved run and resumes it from the site\'s teacher file', async () => {
    const { runtime, ports, store, urls } = setup({ checkpointSeconds: 5 });
    await runtime.boot();
    expect(ports[0].sent[0]).toEqual({ type: 'init', backend: 'auto', checkpointSeconds: 5 });
    const saved = { teacherName: 'Ring', teacherSource: { kind: 'builtin' as const, id: 'ring8' }, teacherSha256: 'ab', step: 120, totalSteps: 400, phase: 'training' as const, savedAt: 1, bytes: 10 };
    ports[0].emit({ type: 'saved-run', saved });
    expect(store.getState().savedRun).toEqual(saved);
    runtime.resumeSaved();
    expect(ports[0].sent.at(-1)).toEqual({ type: 'resume-saved', teacherUrl: 'http://host/app/teachers/ring8.safetensors' });
    // the worker restores the curves, then says the offer is taken
    ports[0].emit({ type: 'history', metrics: [1, 2].map((step) => ({ step, loss: 1, gradNorm: 1, stepMs: 1, time: step, lr: 0.01 })), evals: [] });
    ports[0].emit({ type: 'saved-run', saved: null });
    expect(store.getState().metrics.step).toEqual([1, 2]);
    expect(store.getState().savedRun).toBeNull();
    runtime.pageHidden(); // not training: nothing to save
    expect(ports[0].sent.at(-1)).toEqual({ type: 'resume-saved', teacherUrl: 'http://host/app/teachers/ring8.safetensors' });
    ports[0].emit({ type: 'run', run: { phase: 'training', step: 121, totalSteps: 400, settings: null } });
    runtime.pageHidden();
    expect(ports[0].sent.at(-1)).toEqual({ type: 'save-now' });
    runtime.discardSaved();
    expect(ports[0].sent.at(-1)).toEqual({ type: 'discard-saved' });
    store.getState().setSetting('batch', 64);
    expect(urls.at(-1)).toMatch(/checkpoint=5/);
  });
});

describe('switching the backend', () => {
  afterEach(() => { vi.useRealTimers(); });
  const inits = (ports: FakePort[]) => ports.map((p) => p.sent.find((c) => c.type === 'init'));

  it('keyboard steps through the list restart the worker once, when they settle', async () => {
    vi.useFakeTimers();
    const { runtime, ports, store } = setup();
    await runtime.boot();
    for (const c of ['webgpu', 'webgl', 'wasm'] as const) {
      runtime.chooseBackend(c, 'settle');
      await vi.advanceTimersByTimeAsync(BACKEND_SETTLE_MS - 100);
    }
    expect(ports).toHaveLength(1); // nothing restarted while the keys go on
    await vi.advanceTimersByTimeAsync(100);
    expect(ports).toHaveLength(2);
    expect(inits(ports)[1]).toEqual({ type: 'init', backend: 'wasm' });
    expect(ports[0].terminated).toBe(true);
    expect(store.getState().backendChoice).toBe('wasm');
    await vi.advanceTimersByTimeAsync(5 * BACKEND_SETTLE_MS);
    expect(ports).toHaveLength(2);
    runtime.dispose();
  });

  it('a click applies at once; blur or Enter applies a pending step; stepping back to the current one restarts nothing', async () => {
    vi.useFakeTimers();
    const { runtime, ports } = setup();
    await runtime.boot();
    runtime.chooseBackend('cpu', 'now');
    expect(ports).toHaveLength(2);
    runtime.chooseBackend('wasm', 'settle');
    runtime.commitBackend(); // blur
    expect(ports).toHaveLength(3);
    expect(inits(ports)[2]).toEqual({ type: 'init', backend: 'wasm' });
    runtime.chooseBackend('webgl', 'settle');
    runtime.chooseBackend('wasm', 'settle');
    await vi.advanceTimersByTimeAsync(BACKEND_SETTLE_MS);
    runtime.commitBackend();
    expect(ports).toHaveLength(3);
    runtime.dispose();
  });

  it('a backend that does not start in time gives way to wasm, and the page says so', async () => {
    vi.useFakeTimers();
    const { runtime, ports, store } = setup(undefined, INDEX, 60_000);
    await runtime.boot();
    ports[0].emit({ type: 'teacher-loading', source: { kind: 'builtin', id: 'moons-mlp' } });
    await vi.advanceTimersByTimeAsync(59_000);
    expect(ports).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ports[0].terminated).toBe(true);
    expect(ports[1].sent.map((c) => c.type)).toEqual(['init', 'configure', 'load-teacher']);
    expect(inits(ports)[1]).toEqual({ type: 'init', backend: 'wasm' });
    expect(store.getState()).toMatchObject({ backendChoice: 'wasm', notice: 'The backend chosen automatically did not start within 60 s, so the worker was restarted on wasm.' });
    // wasm reports in time: no more restarts
    ports[1].emit({ type: 'backend', backend: { asked: 'wasm', got: 'wasm', adapter: null } });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ports).toHaveLength(2);
    runtime.dispose();
  });

  it('wasm falls back to cpu; cpu that hangs is an error in the badge, not a spinner forever', async () => {
    vi.useFakeTimers();
    const { runtime, ports, store } = setup({ backendChoice: 'wasm' }, INDEX, 1_000);
    await runtime.boot();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(inits(ports)[1]).toEqual({ type: 'init', backend: 'cpu' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ports).toHaveLength(2);
    expect(store.getState().backendError).toBe('the cpu backend did not start within 1 s. Fix: reload the page');
    expect(fallbackFor('webgpu')).toBe('wasm');
    runtime.dispose();
  });

  it('an error from the start also ends the wait (the badge shows it)', async () => {
    vi.useFakeTimers();
    const { runtime, ports, store } = setup(undefined, INDEX, 1_000);
    await runtime.boot();
    ports[0].emit({ type: 'error', scope: 'backend', message: 'no backend started' });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ports).toHaveLength(1);
    expect(store.getState().backendError).toBe('no backend started');
    runtime.dispose();
  });
});

describe('loading and opened students, page side', () => {
  it('a teacher counts as loading from the moment it is asked for; an opened student remembers the teacher it was sampled against', async () => {
    const { runtime, ports, store } = setup();
    await runtime.boot();
    expect(store.getState().teacherLoading).toEqual({ kind: 'builtin', id: 'moons-mlp' });
    runtime.dropTeacher([{ name: 't.safetensors', bytes: new Uint8Array([1]) }]);
    expect(store.getState().teacherLoading).toEqual({ kind: 'files', names: ['t.safetensors'] });
    const teacher = { sha256: 'c'.repeat(64), source: { kind: 'files', names: ['t.safetensors'] } } as TeacherInfo;
    ports[0].emit({ type: 'teacher', teacher });
    expect(store.getState().teacherLoading).toBeNull();
    const p = runtime.openStudent([{ name: 's.safetensors', bytes: new Uint8Array([2]) }]);
    const req = ports[0].sent.at(-1) as { requestId: number };
    const view: StudentView = { source: 'opened', step: 1, weights: 'ema', dataShape: [2], dataRange: [-1, 1], samples: new Float32Array(2), count: 1, paths: null, error: null };
    ports[0].emit({ type: 'opened-student', requestId: req.requestId, student: {} as OpenedStudentInfo, view });
    await p;
    expect(store.getState().opened?.against).toBe(teacher.sha256);
    expect(store.getState().shown).toBe('opened');
  });
});


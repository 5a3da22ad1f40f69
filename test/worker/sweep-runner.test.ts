/** The studio's sweep through the controller on the wasm backend: runs in turn, pause and stop, refusals, students. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { loadStudent } from '../../src/core/models';
import { readModelFile } from '../../src/formats/model-file';
import { StudioController } from '../../src/worker/controller';
import type { RunSettings, WorkerEvent } from '../../src/worker/protocol';

const SETTINGS: RunSettings = { N: 250, loss: 'l2', optimizer: 'adam', lr: 1e-2, lrFinal: 1e-3, ema: 0.9, batch: 8, steps: 6, seed: 0, evalEvery: 3 };

function harness() {
  const events: WorkerEvent[] = [];
  const waiters: { test: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }[] = [];
  const controller = new StudioController({
    emit: (e) => {
      events.push(e);
      for (const w of [...waiters]) if (w.test(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
    },
    startBackend: async (choice) => ({ asked: choice, got: (await startBackend('wasm')).got, adapter: null }),
    fetchBytes: async (url) => new Uint8Array(readFileSync(`public/teachers/${url.split('/').pop()}`)),
    yieldToEvents: () => new Promise((r) => setTimeout(r, 0)),
    now: () => performance.now(),
    metricsIntervalMs: 0,
  });
  const next = (test: (e: WorkerEvent) => boolean) => new Promise<WorkerEvent>((resolve) => {
    const found = events.find(test);
    if (found) resolve(found); else waiters.push({ test, resolve });
  });
  return { controller, events, next };
}

const sweepPhase = (phase: string) => (e: WorkerEvent) => e.type === 'sweep' && e.sweep.phase === phase;
const errors = (events: WorkerEvent[]) => events.flatMap((e) => (e.type === 'error' ? [`${e.scope}: ${e.message}`] : []));

describe('the studio sweep', () => {
  beforeAll(async () => { await startBackend('wasm'); });

  it('runs each value in turn, sends each student, and a single run waits for it', async () => {
    const { controller, events, next } = harness();
    await controller.handle({ type: 'init', backend: 'wasm' });
    await controller.handle({ type: 'load-teacher', source: { kind: 'builtin', id: 'ring8', url: '/teachers/ring8.safetensors' } });
    await controller.handle({ type: 'sweep-start', key: 'N', values: ['5', ' 40'], settings: SETTINGS });
    await controller.handle({ type: 'start', settings: SETTINGS, view: { heunSteps: 6 } });
    await controller.handle({ type: 'load-teacher', source: { kind: 'builtin', id: 'uneven3', url: '/teachers/uneven3.safetensors' } });
    expect(errors(events)).toEqual([
      'training: a sweep is running: stop it (or let it finish) before starting a distillation',
      'teacher: a sweep is running: stop it before changing the teacher',
    ]);
    await next(sweepPhase('done'));
    const statuses = events.flatMap((e) => (e.type === 'sweep' ? [e.sweep] : []));
    expect(statuses[0]).toMatchObject({ phase: 'running', key: 'N', values: [5, 40], index: 0, totalSteps: 6, analytic: true });
    expect(statuses.at(-1)).toMatchObject({ phase: 'done', index: 2 });
    const finished = events.flatMap((e) => (e.type === 'sweep-run' ? [e] : []));
    expect(finished.map((e) => [e.index, e.row.value, e.row.steps])).toEqual([[0, 5, 6], [1, 40, 6]]);
    expect(finished.map((e) => e.fileName)).toEqual(['ring8-pid-student-N-5.safetensors', 'ring8-pid-student-N-40.safetensors']);
    for (const e of finished) {
      expect(e.row.gridEulerRelative).toBeGreaterThan(0);
      const model = await readModelFile([{ name: e.fileName, bytes: e.bytes }]);
      expect(model.config.student?.pid).toMatchObject({ N: e.row.value, steps: 6, optimizer: 'adam', ema: 0.9 });
      loadStudent(model).dispose();
    }
    expect(finished[0].row.gridEulerRelative!).toBeGreaterThan(finished[1].row.gridEulerRelative!);
    // once it is done, a distillation may start, and a sweep is refused while that one runs
    await controller.handle({ type: 'start', settings: { ...SETTINGS, steps: 400 }, view: { heunSteps: 6 } });
    await controller.handle({ type: 'sweep-start', key: 'N', values: ['5'], settings: SETTINGS });
    expect(errors(events).at(-1)).toBe('sweep: a distillation is running: stop it before starting a sweep');
    await controller.handle({ type: 'stop' });
  }, 120_000);

  it('pauses between two ticks, resumes, stops; bad values are refused before any run', async () => {
    const { controller, events, next } = harness();
    await controller.handle({ type: 'init', backend: 'wasm' });
    await controller.handle({ type: 'load-teacher', source: { kind: 'builtin', id: 'gaussian', url: '/teachers/gaussian.safetensors' } });
    await controller.handle({ type: 'sweep-start', key: 'batch', values: ['8', '0'], settings: SETTINGS });
    expect(errors(events)).toEqual(["sweep: batch: '0' is refused: batch must be between 1 and 65536"]);
    expect(events.some((e) => e.type === 'sweep')).toBe(false);

    await controller.handle({ type: 'sweep-start', key: 'lr', values: ['0.01', '0.001'], settings: { ...SETTINGS, steps: 2000 } });
    await next((e) => e.type === 'sweep' && e.sweep.step > 0);
    await controller.handle({ type: 'sweep-pause' });
    const paused = await next(sweepPhase('paused'));
    const at = paused.type === 'sweep' ? paused.sweep.step : -1;
    await new Promise((r) => setTimeout(r, 100));
    const after = events.filter((e) => e.type === 'sweep').at(-1);
    expect(after?.type === 'sweep' && [after.sweep.phase, after.sweep.step]).toEqual(['paused', at]);
    await controller.handle({ type: 'sweep-resume' });
    await next((e) => e.type === 'sweep' && e.sweep.phase === 'running' && e.sweep.step > at);
    await controller.handle({ type: 'sweep-stop' });
    await next(sweepPhase('stopped'));
    expect(events.some((e) => e.type === 'sweep-run')).toBe(false);
    expect(controller.sweeps.active).toBe(false);
    expect(errors(events)).toHaveLength(1);
  }, 120_000);
});

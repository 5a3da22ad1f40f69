/**
 * Nothing lost: a run checkpointed by one controller continues in another (a page reload) from the saved step with the
 * same curves and the same numbers as if it had never stopped; a checkpoint of another teacher is refused; a lost
 * device is replaced and the run goes back to its last checkpoint.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { StudioController } from '../../src/worker/controller';
import type { MetricPoint, RunSettings, WorkerCommand, WorkerEvent } from '../../src/worker/protocol';
import { MemoryRunStore, unpackMetrics } from '../../src/worker/saved-run';

const bytesOf = (id: string) => new Uint8Array(readFileSync(`public/teachers/${id}.safetensors`));
const SETTINGS: RunSettings = { N: 250, loss: 'l2', optimizer: 'radam', lr: 1e-3, lrFinal: 1e-3, ema: 0.9, batch: 16, steps: 16, seed: 3, evalEvery: 8 };
const VIEW = { heunSteps: 4 };
const MOONS: WorkerCommand = { type: 'load-teacher', source: { kind: 'builtin', id: 'moons-mlp', url: '/teachers/moons-mlp.safetensors' } };

function harness(store: MemoryRunStore, opts: { serve?: string; restart?: boolean } = {}) {
  const events: WorkerEvent[] = [];
  let clock = 0;
  const waiters: { test: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }[] = [];
  const controller: StudioController = new StudioController({
    emit: (e) => {
      events.push(e);
      for (const w of [...waiters]) if (w.test(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
    },
    startBackend: async (choice) => ({ asked: choice, got: (await startBackend('cpu')).got, adapter: null }),
    fetchBytes: async (url) => bytesOf(opts.serve ?? url.split('/').pop()!.replace('.safetensors', '')),
    yieldToEvents: () => new Promise((r) => setTimeout(r, 0)),
    now: () => (clock += 10),
    wallClock: () => 1_700_000_000_000 + clock,
    metricsIntervalMs: 0,
    runStore: store,
    ...(opts.restart
      ? {
        restartBackend: async (choice) => {
          tf.engine().reset(); // what the worker does: every tensor went with the device
          return { asked: choice, got: (await startBackend('cpu')).got, adapter: null };
        },
      }
      : {}),
  });
  const next = (test: (e: WorkerEvent) => boolean) => new Promise<WorkerEvent>((resolve) => {
    const found = events.find(test);
    if (found) resolve(found); else waiters.push({ test, resolve });
  });
  const points = (from = 0) => events.slice(from).flatMap((e) => (e.type === 'metrics' ? e.points : []));
  return { controller, events, next, points };
}

const lossesByStep = (points: MetricPoint[]) => new Map(points.map((p) => [p.step, p.loss]));

describe('checkpoints, resume after a reload, device loss (cpu backend)', () => {
  /** Losses of an uninterrupted run of SETTINGS, by step: what every resumed run must reproduce. */
  let uninterrupted: Map<number, number>;

  beforeAll(async () => {
    await startBackend('cpu');
    const a = harness(new MemoryRunStore());
    await a.controller.handle({ type: 'init', backend: 'cpu' });
    await a.controller.handle(MOONS);
    await a.controller.handle({ type: 'start', settings: SETTINGS, view: VIEW });
    await a.next((e) => e.type === 'run' && e.run.phase === 'done');
    uninterrupted = lossesByStep(a.points());
    a.controller.engine.dispose();
  });

  it('pause saves the run; a new controller on the same store offers it and continues the same curves exactly', async () => {
    const store = new MemoryRunStore();
    const a = harness(store);
    await a.controller.handle({ type: 'init', backend: 'cpu', checkpointSeconds: 3600 });
    expect(a.events).toContainEqual({ type: 'saved-run', saved: null });
    await a.controller.handle(MOONS);
    await a.controller.handle({ type: 'start', settings: SETTINGS, view: VIEW });
    await a.next((e) => e.type === 'metrics' && e.points.some((p) => p.step >= 5));
    await a.controller.handle({ type: 'pause' });
    await a.controller.checkpointsWritten();
    const saved = store.saved!;
    expect(saved.phase).toBe('paused');
    expect(saved.step).toBeGreaterThanOrEqual(5);
    expect(uninterrupted.size).toBe(16);
    expect(saved.teacher.files).toBeNull(); // a built-in teacher is fetched again, not stored
    expect(unpackMetrics(saved.metrics).map((p) => p.step)).toEqual(Array.from({ length: saved.step }, (_, i) => i + 1));
    const written = a.events.filter((e) => e.type === 'checkpoint');
    expect(written.at(-1)).toMatchObject({ checkpoint: { step: saved.step, stored: true } });
    a.controller.engine.dispose();

    // "reload": a fresh controller, engine and tensors
    expect(tf.memory().numTensors).toBe(0);
    const b = harness(store);
    await b.controller.handle({ type: 'init', backend: 'cpu' });
    const offer = b.events.find((e) => e.type === 'saved-run');
    expect(offer).toMatchObject({ saved: { step: saved.step, totalSteps: 16, phase: 'paused', teacherName: saved.teacher.name, teacherSource: { kind: 'builtin', id: 'moons-mlp' } } });
    await b.controller.handle({ type: 'resume-saved', teacherUrl: '/teachers/moons-mlp.safetensors' });
    const history = b.events.find((e) => e.type === 'history');
    expect(history?.type === 'history' && history.metrics.map((p) => p.step)).toEqual(Array.from({ length: saved.step }, (_, i) => i + 1));
    // the start's evaluation, and step 8's if the pause came after it (a tick runs up to the next evaluation)
    expect(history?.type === 'history' && history.evals.map((v) => v.step)).toEqual([0, 8].filter((s) => s <= saved.step));
    await b.next((e) => e.type === 'run' && e.run.phase === 'done');
    const resumed = b.points();
    expect(resumed[0].step).toBe(saved.step + 1); // not one step lost, none repeated
    for (const p of resumed) expect(p.loss).toBe(uninterrupted.get(p.step)); // same weights, moments and RNG: same numbers
    // the run clock carries on from the saved elapsed time
    expect(resumed[0].time).toBeGreaterThan(unpackMetrics(saved.metrics).at(-1)!.time);
    await b.controller.checkpointsWritten();
    expect(store.saved!.phase).toBe('done');
    b.controller.engine.dispose();
  });

  it('checkpoints every K seconds while training, and the store holds the latest', async () => {
    const store = new MemoryRunStore();
    const a = harness(store);
    await a.controller.handle({ type: 'init', backend: 'cpu', checkpointSeconds: 0.2 }); // the fake clock moves 10 ms a call
    await a.controller.handle(MOONS);
    await a.controller.handle({ type: 'start', settings: SETTINGS, view: VIEW });
    await a.next((e) => e.type === 'run' && e.run.phase === 'done');
    await a.controller.checkpointsWritten();
    const steps = a.events.flatMap((e) => (e.type === 'checkpoint' ? [e.checkpoint.step] : []));
    expect(steps[0]).toBeGreaterThan(0); // none at the start: a run that never trained leaves nothing behind
    expect(steps.at(-1)).toBe(16); // at the end
    expect(steps.filter((s) => s > 0 && s < 16).length).toBeGreaterThan(0); // and in between, by the clock (at a tick's end)
    expect(store.saved!.step).toBe(16);
    a.controller.engine.dispose();
  });

  it('save-now (the page is being hidden) checkpoints the running step at once', async () => {
    const store = new MemoryRunStore();
    const a = harness(store);
    await a.controller.handle({ type: 'init', backend: 'cpu', checkpointSeconds: 3600 });
    await a.controller.handle(MOONS);
    await a.controller.handle({ type: 'start', settings: SETTINGS, view: VIEW });
    await a.next((e) => e.type === 'metrics' && e.points.some((p) => p.step >= 3));
    await a.controller.handle({ type: 'save-now' });
    await a.controller.checkpointsWritten();
    expect(store.saved!.phase).toBe('training');
    expect(store.saved!.step).toBeGreaterThanOrEqual(3);
    expect(store.saves).toBe(2); // after the first steps (none at step 0), and now
    await a.controller.handle({ type: 'stop' });
    a.controller.engine.dispose();
  });

  it('a dropped teacher is stored with the run and comes back from storage', async () => {
    const store = new MemoryRunStore();
    const a = harness(store);
    await a.controller.handle({ type: 'init', backend: 'cpu' });
    await a.controller.handle({ type: 'load-teacher', source: { kind: 'files', files: [{ name: 'mine.safetensors', bytes: bytesOf('ring8') }] } });
    await a.controller.handle({ type: 'start', settings: { ...SETTINGS, steps: 4 }, view: VIEW });
    await a.next((e) => e.type === 'run' && e.run.phase === 'done');
    await a.controller.checkpointsWritten();
    expect(store.saved!.teacher.files?.[0].name).toBe('mine.safetensors');
    a.controller.engine.dispose();
    const b = harness(store, { serve: 'moons-mlp' }); // the site's files must not be used
    await b.controller.handle({ type: 'init', backend: 'cpu' });
    await b.controller.handle({ type: 'resume-saved', teacherUrl: null });
    const teacher = b.events.find((e) => e.type === 'teacher');
    expect(teacher).toMatchObject({ teacher: { source: { kind: 'files', names: ['mine.safetensors'] }, sha256: store.saved!.teacher.sha256 } });
    const restored = await b.next((e) => e.type === 'run' && e.run.phase !== 'idle');
    expect(restored).toMatchObject({ run: { phase: 'done', step: 4 } });
    b.controller.engine.dispose();
  });

  it('a checkpoint whose teacher no longer matches is refused with the reason, and the page keeps working', async () => {
    const store = new MemoryRunStore();
    const a = harness(store);
    await a.controller.handle({ type: 'init', backend: 'cpu' });
    await a.controller.handle(MOONS);
    await a.controller.handle({ type: 'start', settings: { ...SETTINGS, steps: 3 }, view: VIEW });
    await a.next((e) => e.type === 'run' && e.run.phase === 'done');
    await a.controller.checkpointsWritten();
    a.controller.engine.dispose();
    const b = harness(store, { serve: 'ring8' }); // the site now serves another file under the same name
    await b.controller.handle({ type: 'init', backend: 'cpu' });
    await b.controller.handle({ type: 'resume-saved', teacherUrl: '/teachers/moons-mlp.safetensors' });
    const err = b.events.find((e) => e.type === 'error');
    expect(err).toMatchObject({ type: 'error', scope: 'saved-run' });
    expect(err?.type === 'error' && err.message).toMatch(/was made for teacher ".*" with sha256 [0-9a-f]{12}…, but that teacher's file is now [0-9a-f]{12}…: its checkpoint cannot continue/);
    expect(b.events.some((e) => e.type === 'history')).toBe(false);
    expect(store.saved).not.toBeNull(); // refused, not deleted: the user decides
    await b.controller.handle({ type: 'discard-saved' });
    expect(store.saved).toBeNull();
    expect(b.events.at(-1)).toEqual({ type: 'saved-run', saved: null });
    await b.controller.handle({ type: 'start', settings: { ...SETTINGS, steps: 2 }, view: VIEW }); // the loaded (new) teacher distils
    await b.next((e) => e.type === 'run' && e.run.phase === 'done');
    b.controller.engine.dispose();
  });

  it('a lost device: a new backend, the teacher again, back to the last checkpoint, the same numbers after it', async () => {
    const store = new MemoryRunStore();
    const a = harness(store, { restart: true });
    await a.controller.handle({ type: 'init', backend: 'cpu', checkpointSeconds: 0.05 }); // due at each tick's end
    await a.controller.handle(MOONS);
    await a.controller.handle({ type: 'start', settings: SETTINGS, view: VIEW });
    await a.next((e) => e.type === 'checkpoint' && e.checkpoint.step > 0);
    // mid-run: a tick takes the steps up to the next evaluation (8), so step 5 is reported while steps 9 to 16 are to come
    await a.next((e) => e.type === 'metrics' && e.points.some((p) => p.step >= 5));
    const before = a.events.length;
    await a.controller.deviceLost('destroyed: test');
    const notices = a.events.slice(before).filter((e) => e.type === 'notice');
    expect(notices.at(-1)?.type === 'notice' && notices.at(-1)!.message).toMatch(/^The GPU device was lost \(destroyed: test\) at step \d+\. Restarted on cpu and went back to the checkpoint of step \d+: \d+ steps? to redo\.$/);
    const [, lostAt, backTo, redo] = /at step (\d+)\..* step (\d+): (\d+) step/.exec((notices.at(-1) as { message: string }).message)!.map(Number);
    expect(lostAt).toBeGreaterThanOrEqual(5);
    expect(lostAt).toBeLessThan(16);
    expect(backTo).toBeGreaterThan(0);
    expect(backTo).toBeLessThanOrEqual(lostAt);
    expect(redo).toBe(lostAt - backTo);
    const history = a.events.slice(before).find((e) => e.type === 'history');
    expect(history?.type === 'history' && history.metrics.at(-1)?.step).toBe(backTo);
    expect(a.events.slice(before).map((e) => e.type)).toEqual(expect.arrayContaining(['backend', 'teacher', 'teacher-view', 'history', 'evaluation', 'run']));
    await a.next((e) => e.type === 'run' && e.run.phase === 'done');
    const after = a.points(before);
    const back = store.saved!.step; // the latest checkpoint: the end of the run
    expect(back).toBe(16);
    expect(after.at(-1)!.step).toBe(16);
    for (const p of after) expect(p.loss).toBe(uninterrupted.get(p.step));
    expect(a.events.some((e) => e.type === 'error' || (e.type === 'run' && e.run.phase === 'failed'))).toBe(false);
    a.controller.engine.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
});

import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { loadStudent } from '../../src/core/models';
import { readModelFile } from '../../src/formats/model-file';
import { StudioController } from '../../src/worker/controller';
import type { RunSettings, WorkerEvent } from '../../src/worker/protocol';
import { edmStateDictBytes, tinySongUnet } from '../helpers/edm-teacher';

const teacherBytes = () => new Uint8Array(readFileSync('public/teachers/moons-mlp.safetensors'));
const SETTINGS: RunSettings = { N: 250, loss: 'l2', optimizer: 'radam', lr: 2e-4, lrFinal: 2e-4, ema: 0.999, batch: 16, steps: 12, seed: 0, evalEvery: 6 };
const VIEW = { heunSteps: 6 };

function harness() {
  const events: WorkerEvent[] = [];
  let clock = 0;
  const waiters: { test: (e: WorkerEvent) => boolean; resolve: (e: WorkerEvent) => void }[] = [];
  const controller = new StudioController({
    emit: (e) => {
      events.push(e);
      for (const w of [...waiters]) if (w.test(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
    },
    startBackend: async (choice) => ({ asked: choice, got: (await startBackend('cpu')).got, adapter: null }),
    fetchBytes: async () => teacherBytes(),
    yieldToEvents: () => new Promise((r) => setTimeout(r, 0)),
    now: () => (clock += 10),
    metricsIntervalMs: 0,
  });
  const next = (test: (e: WorkerEvent) => boolean) => new Promise<WorkerEvent>((resolve) => {
    const found = events.find(test);
    if (found) resolve(found); else waiters.push({ test, resolve });
  });
  return { controller, events, next };
}

describe('StudioController on the cpu backend', () => {
  beforeAll(async () => { await startBackend('cpu'); });

  it('loads the default teacher, trains, pauses, resumes, finishes, exports a valid student', async () => {
    const { controller, events, next } = harness();
    await controller.handle({ type: 'init', backend: 'auto' });
    expect(events[0]).toMatchObject({ type: 'backend', backend: { got: 'cpu' } });
    await controller.handle({ type: 'load-teacher', source: { kind: 'builtin', id: 'moons-mlp', url: '/teachers/moons-mlp.safetensors' } });
    const teacher = events.find((e) => e.type === 'teacher');
    expect(teacher).toMatchObject({ teacher: { networkType: 'mlp', dataShape: [2], sigmaMax: 80, sigmaMin: 0.002 } });
    const view = events.find((e) => e.type === 'teacher-view');
    expect(view?.type === 'teacher-view' && view.view.nfe).toBe(35); // EDM's 18 Heun steps until configured
    const viewsBefore = events.filter((e) => e.type === 'teacher-view').length;
    await controller.handle({ type: 'start', settings: SETTINGS, view: VIEW });
    // the run does not wait for the picture of the new Heun steps: it comes once the run pauses
    expect(events.filter((e) => e.type === 'teacher-view').length).toBe(viewsBefore);
    await next((e) => e.type === 'metrics' && e.points.some((p) => p.step >= 3));
    await controller.handle({ type: 'pause' });
    const views = events.filter((e) => e.type === 'teacher-view');
    expect(views.at(-1)?.type === 'teacher-view' && views.at(-1)).toMatchObject({ view: { heunSteps: 6, nfe: 11, count: 512, pathCount: 8 } });
    const paused = await next((e) => e.type === 'run' && e.run.phase === 'paused');
    const stepAtPause = paused.type === 'run' ? paused.run.step : -1;
    await new Promise((r) => setTimeout(r, 50));
    const lastMetric = events.filter((e) => e.type === 'metrics').flatMap((e) => (e.type === 'metrics' ? e.points : [])).at(-1)!;
    expect(lastMetric.step).toBe(stepAtPause); // the pause is reported after the step in flight
    await controller.handle({ type: 'resume' });
    await next((e) => e.type === 'run' && e.run.phase === 'done');
    const points = events.flatMap((e) => (e.type === 'metrics' ? e.points : []));
    expect(points.map((p) => p.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(points.every((p) => Number.isFinite(p.loss) && p.loss > 0)).toBe(true);
    // evaluations at step 0 (start), 6 and 12 (the end)
    expect(events.filter((e) => e.type === 'evaluation').map((e) => e.type === 'evaluation' && e.point.step)).toEqual([0, 6, 12]);
    const tensorsPerBatch = events.flatMap((e) => (e.type === 'metrics' ? [`${e.memory.numTensors}:${e.memory.numBytes}`] : []));
    expect(new Set(tensorsPerBatch.slice(1)).size).toBe(1); // no tensor leak from step to step

    let file: WorkerEvent | undefined;
    await controller.handle({ type: 'export-student', requestId: 7 });
    file = events.find((e) => e.type === 'student-file');
    expect(file?.type).toBe('student-file');
    if (file?.type !== 'student-file') return;
    expect(file.requestId).toBe(7);
    expect(file.fileName).toBe('moons-mlp-pid-student-12steps.safetensors');
    const model = await readModelFile([{ name: file.fileName, bytes: file.bytes }]);
    expect(model.config.role).toBe('student');
    expect(model.config.student?.pid).toEqual({ N: 250, loss: 'l2', optimizer: 'radam', lr: 2e-4, batch: 16, steps: 12, ema: 0.999, seed: 0 });
    expect(model.config.student?.teacher.sha256).toBe(teacher?.type === 'teacher' && teacher.teacher.sha256);
    loadStudent(model).dispose();

    await controller.handle({ type: 'open-student', source: { kind: 'files', files: [{ name: file.fileName, bytes: file.bytes }] }, requestId: 8 });
    const opened = events.find((e) => e.type === 'opened-student');
    expect(opened?.type === 'opened-student' && opened.student.matchesTeacher).toBe(true);
    const lastEval = events.filter((e) => e.type === 'evaluation').at(-1);
    if (opened?.type === 'opened-student' && lastEval?.type === 'evaluation') {
      // the opened file samples exactly what the live view showed for the same weights and noise
      expect(Array.from(opened.view.samples)).toEqual(Array.from(lastEval.view.samples));
    }
    controller.engine.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it("a Start does not wait for an image teacher's picture: it gives way, says how far it got, and comes when the run pauses", async () => {
    const { controller, events, next } = harness();
    await controller.handle({ type: 'init', backend: 'cpu' });
    const files = [{ name: 'teacher.pt', bytes: edmStateDictBytes(tinySongUnet({ img_resolution: 4, channel_mult: [1], attn_resolutions: [] })) }];
    const loading = controller.handle({ type: 'load-teacher', source: { kind: 'files', files } });
    await next((e) => e.type === 'view-progress' && e.task !== null); // the picture is being solved: Start now
    const starting = controller.handle({ type: 'start', settings: { ...SETTINGS, batch: 2, steps: 400, evalEvery: 400 }, view: { heunSteps: 18 } });
    await Promise.all([loading, starting]);
    await next((e) => e.type === 'run' && e.run.phase === 'training');
    const progress = events.filter((e) => e.type === 'view-progress' && e.task !== null);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThan(18); // given up part way
    expect(progress[0]).toEqual({ type: 'view-progress', task: "solving the teacher's ODE for its picture: Heun step 1 of 18" });
    expect(events.some((e) => e.type === 'teacher-view')).toBe(false);
    await controller.handle({ type: 'pause' });
    expect(events.filter((e) => e.type === 'teacher-view').at(-1)).toMatchObject({ view: { heunSteps: 18, nfe: 35 } });
    await controller.handle({ type: 'stop' });
    controller.engine.dispose();
  });

  it('reports a malformed file with its one-line error and keeps working', async () => {
    const { controller, events } = harness();
    await controller.handle({ type: 'init', backend: 'cpu' });
    await controller.handle({ type: 'load-teacher', source: { kind: 'files', files: [{ name: 'broken.safetensors', bytes: new Uint8Array([1, 2, 3]) }] } });
    const err = events.find((e) => e.type === 'error');
    expect(err).toMatchObject({ type: 'error', scope: 'teacher' });
    expect(err?.type === 'error' && err.message).toMatch(/^broken\.safetensors: /);
    await controller.handle({ type: 'load-teacher', source: { kind: 'files', files: [{ name: 'gaussian.safetensors', bytes: new Uint8Array(readFileSync('public/teachers/gaussian.safetensors')) }] } });
    expect(events.some((e) => e.type === 'teacher')).toBe(true);
    await controller.handle({ type: 'export-student', requestId: 3 });
    expect(events.at(-1)).toMatchObject({ type: 'error', scope: 'export', requestId: 3 });
    controller.engine.dispose();
  });

  it('a diverging run: skipped steps and restores are reported, then the run fails with the trainer\'s words', async () => {
    const { controller, events, next } = harness();
    await controller.handle({ type: 'init', backend: 'cpu' });
    await controller.handle({ type: 'load-teacher', source: { kind: 'files', files: [{ name: 'gaussian.safetensors', bytes: new Uint8Array(readFileSync('public/teachers/gaussian.safetensors')) }] } });
    await controller.handle({ type: 'start', settings: { ...SETTINGS, steps: 200, evalEvery: 200 }, view: { heunSteps: 2 } });
    // No valid setting diverges for sure; a learning rate past the settings' bounds, set behind the page's back, does.
    Object.assign(controller.engine.pidRun!.settings, { lr: 1e30, lrFinal: 1e30 });
    const failed = await next((e) => e.type === 'run' && e.run.phase === 'failed');
    expect(failed.type === 'run' && failed.run.message).toMatch(/^training stopped at step \d+: training diverged: .* lower the learning rate/);
    const withFaults = events.filter((e) => e.type === 'run' && e.run.faults);
    expect(withFaults.length).toBeGreaterThan(0);
    expect(withFaults.at(-1)).toMatchObject({ run: { faults: { restores: 3, lrFactor: 0.125 } } });
    // only finite, completed steps are in the metrics
    const points = events.flatMap((e) => (e.type === 'metrics' ? e.points : []));
    expect(points.every((p) => Number.isFinite(p.loss))).toBe(true);
    controller.engine.dispose();
  });
});

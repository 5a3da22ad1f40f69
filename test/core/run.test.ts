/**
 * One run object for the CLI and the studio: the same settings give the same losses, learning rates and evaluation
 * steps whether `pid-studio distill` or the studio's worker drives the PidRun.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { exponentialLr } from '../../src/core/pid';
import { loadTeacher } from '../../src/core/models';
import { PidRun } from '../../src/core/run';
import { readModelFile } from '../../src/formats/model-file';
import type { RunSettings } from '../../src/formats/run-settings';
import { StudioController } from '../../src/worker/controller';
import type { WorkerEvent } from '../../src/worker/protocol';
import { runInProcess } from '../cli/in-process';

const SETTINGS: RunSettings = { N: 40, loss: 'l2', optimizer: 'radam', lr: 1e-2, lrFinal: 1e-4, ema: 0.9, batch: 16, steps: 12, seed: 5, evalEvery: 4 };
const teacherBytes = () => new Uint8Array(readFileSync('public/teachers/gaussian.safetensors'));

async function workerRun(settings: RunSettings): Promise<WorkerEvent[]> {
  const events: WorkerEvent[] = [];
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => { done = r; });
  const controller = new StudioController({
    emit: (e) => {
      events.push(e);
      if (e.type === 'run' && (e.run.phase === 'done' || e.run.phase === 'failed')) done();
    },
    startBackend: async (choice) => ({ asked: choice, got: (await startBackend('wasm')).got, adapter: null }),
    fetchBytes: async () => teacherBytes(),
    yieldToEvents: () => new Promise((r) => setTimeout(r, 0)),
    now: () => performance.now(),
    metricsIntervalMs: 0,
  });
  await controller.handle({ type: 'init', backend: 'wasm' });
  await controller.handle({ type: 'load-teacher', source: { kind: 'builtin', id: 'gaussian', url: '/teachers/gaussian.safetensors' } });
  await controller.handle({ type: 'start', settings, view: { heunSteps: 4 } });
  await finished;
  controller.engine.dispose();
  return events;
}

describe('PidRun', () => {
  beforeAll(async () => { await startBackend('wasm'); });

  it('the CLI and the worker drive it to the same losses, learning rates and evaluation steps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pid-run-'));
    const flags = ['--N', '40', '--loss', 'l2', '--optimizer', 'radam', '--lr', '1e-2', '--lr-final', '1e-4', '--ema', '0.9', '--batch', '16', '--steps', '12', '--seed', '5', '--eval-every', '4'];
    const cli = await runInProcess(['distill', '--teacher', 'builtin:gaussian', '--out', 'student.safetensors', '--log', 'log.jsonl', '--backend', 'wasm', ...flags], dir);
    expect(cli.code, cli.err.join('\n')).toBe(0);
    const log = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const cliSteps = log.filter((r) => 'loss' in r);
    const cliEvals = log.filter((r) => 'trajectoryRmse' in r && !r.final).map((r) => r.step);

    const events = await workerRun(SETTINGS);
    const points = events.flatMap((e) => (e.type === 'metrics' ? e.points : []));
    const evals = events.flatMap((e) => (e.type === 'evaluation' ? [e.point.step] : []));

    expect(cliSteps.map((r) => r.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(points.map((p) => p.step)).toEqual(cliSteps.map((r) => r.step));
    expect(points.map((p) => p.loss)).toEqual(cliSteps.map((r) => r.loss));
    expect(points.map((p) => p.lr)).toEqual(cliSteps.map((r) => r.lr));
    // the schedule: 1e-2 at the first step, 1e-4 at the last, exponential between
    expect(points[0].lr).toBeCloseTo(1e-2, 12);
    expect(points.at(-1)!.lr).toBeCloseTo(1e-4, 12);
    expect(points[5].lr).toBeCloseTo(exponentialLr(6, 12, 1e-2, 1e-4), 12);
    expect(cliEvals).toEqual([4, 8, 12]);
    expect(evals).toEqual([0, 4, 8, 12]); // the studio also shows the student before its first step
  }, 120_000);

  it('ticks stop at evaluation steps and at the end, and leave no tensor behind', async () => {
    const model = await readModelFile([{ name: 'gaussian.safetensors', bytes: teacherBytes() }]);
    const teacher = loadTeacher(model);
    const before = tf.memory().numTensors;
    const run = new PidRun(teacher, { ...SETTINGS, steps: 10, evalEvery: 4 });
    const ends: number[] = [];
    const evaluated: number[] = [];
    while (!run.done) {
      const tick = await run.tick();
      ends.push(run.step);
      if (tick.evaluate) evaluated.push(run.step);
    }
    expect(ends.at(-1)).toBe(10);
    expect(evaluated).toEqual([4, 8, 10]);
    expect(ends.every((s, i) => i === 0 || s > ends[i - 1])).toBe(true);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
    teacher.dispose();
  });
});

/** "auto" with several candidates times PID steps of the loaded teacher on each and trains on the fastest. */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { raceBackends, raceReason, timePidSteps } from '../../src/worker/backend-race';
import { StudioController } from '../../src/worker/controller';
import type { WorkerEvent } from '../../src/worker/protocol';

const moons = () => [{ name: 'moons-mlp.safetensors', bytes: new Uint8Array(readFileSync('public/teachers/moons-mlp.safetensors')) }];

describe('the backend race of "auto"', () => {
  beforeAll(async () => {
    await startBackend('cpu');
    await startBackend('wasm');
  });

  it('orders the candidates by PID steps/s of the teacher and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const results = await raceBackends(['cpu', 'wasm', 'no-such-backend'], async (b) => { await startBackend(b as 'cpu'); }, () => timePidSteps(moons()));
    expect(results.map((r) => r.backend).sort()).toEqual(['cpu', 'wasm']); // a candidate that does not start is left out
    expect(results[0].stepsPerSecond).toBeGreaterThanOrEqual(results[1].stepsPerSecond);
    expect(results[0].backend).toBe('wasm'); // a 30k-parameter MLP at batch 256: wasm's SIMD kernels beat plain JS by far
    expect(raceReason(results)).toMatch(/^auto: wasm, the fastest on this teacher here \(\d+\.\d PID steps\/s against cpu \d+\.\d, timed\)$/);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('the controller races once per teacher, moves to the winner and says why', async () => {
    const events: WorkerEvent[] = [];
    let used: string[] = [];
    const controller = new StudioController({
      emit: (e) => events.push(e),
      startBackend: async (choice) => ({ asked: choice, got: (await startBackend('cpu')).got, adapter: null }),
      fetchBytes: async () => moons()[0].bytes,
      yieldToEvents: () => new Promise((r) => setTimeout(r, 0)),
      now: () => performance.now(),
      autoCandidates: () => ['cpu', 'wasm'],
      async useBackend(name) {
        used.push(name);
        await startBackend(name as 'cpu');
        return { asked: 'auto', got: tf.getBackend(), adapter: null };
      },
    });
    await controller.handle({ type: 'init', backend: 'auto' });
    const load = { type: 'load-teacher', source: { kind: 'builtin', id: 'moons-mlp', url: '/teachers/moons-mlp.safetensors' } } as const;
    await controller.handle(load);
    expect(used).toEqual(['cpu', 'wasm', 'wasm']); // each candidate timed, then the winner
    const backends = events.filter((e) => e.type === 'backend');
    expect(backends.at(-1)).toMatchObject({ backend: { got: 'wasm', reason: expect.stringMatching(/^auto: wasm, the fastest/) } });
    expect(events.some((e) => e.type === 'teacher')).toBe(true);
    used = [];
    await controller.handle(load);
    expect(used).toEqual(['wasm']); // the answer is kept: no second race for the same teacher
    controller.engine.dispose();
  }, 180_000);
});

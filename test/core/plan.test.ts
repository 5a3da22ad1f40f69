/**
 * Runs sized to the teacher and the machine (core/plan.ts): the micro-batch that fits, the run's shape in words, the
 * plan layer; and the memory a plan estimates from steps of one and two samples against what the wasm backend
 * allocates for a larger batch, for three networks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTeacher } from '../../src/core/models';
import { readModelFile } from '../../src/formats/model-file';
import {
  type StepCost, describeRunShape, evaluationCadence, memoryLimitFor, microBatchFor, planSettings, roundSteps, runBytes, runShape, stepSeconds,
} from '../../src/core/plan';
import { measureStepCost } from '../../src/core/plan-probe';
import { readAnyModel } from '../../src/core/model-import';
import { PidRun } from '../../src/core/run';
import { RUN_DEFAULTS } from '../../src/formats/run-settings';
import { useBackend } from '../helpers/backend';
import { edmStateDictBytes, tinySongUnet } from '../helpers/edm-teacher';

const MB = 1024 ** 2;
const cost: StepCost = {
  backend: 'wasm', studentParameters: 1e6, teacherParameters: 1e6, secondsFixed: 0.1, secondsPerSample: 0.05,
  bytesState: 40 * MB, bytesUpdate: 20 * MB, bytesPassFixed: 10 * MB, bytesPerSample: 100 * MB,
};

describe('the plan, from a measured cost', () => {
  it('splits a batch that does not fit into even micro-batches, and keeps one that fits whole', () => {
    const limit = { bytes: 1000 * MB, why: 'test' };
    // room for 9 samples a pass: 32 = 4 x 8
    expect(microBatchFor(cost, limit, 32)).toBe(8);
    expect(microBatchFor(cost, limit, 6)).toBe(6);
    expect(microBatchFor(cost, limit, 10)).toBe(5);
    expect(runBytes(cost, 8)).toBe(40 * MB + 810 * MB);
    expect(microBatchFor(cost, { bytes: 10 * MB, why: 'tiny' }, 32)).toBe(1); // nothing fits: one at a time, and the shape says so
  });

  it('says what a run takes, and warns when it will not fit or not be useful', () => {
    const limit = { bytes: 1000 * MB, why: 'test' };
    const shape = runShape(cost, limit, { batch: 32, steps: 900 });
    expect(shape.microBatch).toBe(8);
    expect(shape.stepSeconds).toBeCloseTo(4 * 0.1 + 32 * 0.05, 10);
    expect(describeRunShape(shape)).toBe('batch 32 as 4 x 8, 900 steps, about 30 min here, 850 MB');
    expect(shape.warning).toBeNull();
    const slow = runShape({ ...cost, secondsPerSample: 1 }, limit, { batch: 32, steps: 20 });
    expect(slow.warning).toMatch(/^one step of batch 32 takes about 32 s on wasm: 100 steps take 54 min.*GPU/);
    const huge = runShape({ ...cost, bytesState: 2000 * MB }, limit, { batch: 32, steps: 20 });
    expect(huge.fits).toBe(false);
    expect(huge.warning).toMatch(/too large for wasm/);
  });

  it('sizes an image run to the budget, its first evaluation within about a minute; 2D data keeps the backend sizing', () => {
    const limit = memoryLimitFor('wasm');
    const plan = planSettings({ cost, limit, image: true });
    expect(plan.batch).toBe(32);
    const seconds = stepSeconds(cost, 32, microBatchFor(cost, limit, 32));
    expect(plan.steps).toBe(roundSteps(480 / seconds));
    expect(plan.evalEvery).toBe(evaluationCadence(plan.steps!, seconds));
    expect(plan.evalEvery! * seconds).toBeLessThanOrEqual(66);
    expect(planSettings({ cost, limit, image: true, budgetSeconds: 60 }).steps).toBeLessThan(plan.steps! / 5);
    expect(planSettings({ cost, limit, image: false })).toEqual({});
    expect([roundSteps(937), roundSteps(12345), roundSteps(7.4), roundSteps(99)]).toEqual([940, 12000, 7, 99]);
  });
});

describe('the memory estimate against what wasm allocates', () => {
  beforeAll(() => useBackend('wasm'));

  const teachers: [string, () => Promise<ReturnType<typeof loadTeacher>>][] = [
    ['EDM SongUNet, class-conditional', async () => loadTeacher(await readAnyModel([{ name: 'song.pt', bytes: edmStateDictBytes(tinySongUnet({ label_dim: 3 })) }]))],
    ['EDM DhariwalUNet', async () => loadTeacher(await readAnyModel([{ name: 'adm.pt', bytes: edmStateDictBytes({
      type: 'edm-dhariwalunet', img_resolution: 8, in_channels: 3, out_channels: 3, label_dim: 0, augment_dim: 0, model_channels: 16,
      channel_mult: [1, 2], channel_mult_emb: 4, num_blocks: 1, attn_resolutions: [4], dropout: 0, label_dropout: 0,
    } as never) }]))],
    ['the 14x14 digits UNet', async () => loadTeacher(await readModelFile([{ name: 'mnist14-unet.safetensors', bytes: new Uint8Array(
      (await import('node:fs')).readFileSync(new URL('../../public/teachers/mnist14-unet.safetensors', import.meta.url))) }]))],
  ];
  for (const [name, make] of teachers) {
    it(`is within 2x for batch 12 in micro-batches (${name})`, async () => {
      const teacher = await make();
      const measured = await measureStepCost(teacher);
      expect(measured.bytesPerSample).toBeGreaterThan(0);
      expect(measured.secondsPerSample).toBeGreaterThan(0);
      const limit = { bytes: runBytes(measured, 5) + 1, why: 'a limit that takes 5 samples a pass' };
      const settings = { ...RUN_DEFAULTS, batch: 12, steps: 2, evalEvery: 2 };
      const shape = runShape(measured, limit, settings);
      expect(shape.microBatch).toBe(4); // 12 as 3 x 4
      const before = tf.memory().numBytes - 4 * measured.teacherParameters;
      const run = new PidRun(teacher, settings, { microBatch: shape.microBatch });
      const peak = (await tf.profile(async () => { await run.trainer.trainSteps(1); return []; })).peakBytes - before;
      console.log(`${name}: estimated ${(shape.bytes / MB).toFixed(1)} MB, allocated ${(peak / MB).toFixed(1)} MB at its peak`);
      expect(shape.bytes).toBeLessThan(2 * peak);
      expect(shape.bytes).toBeGreaterThan(peak / 2);
      run.dispose();
      teacher.dispose();
    }, 120_000);
  }
});

describe('a teacher too large to step here', () => {
  beforeAll(() => useBackend('wasm'));

  it('is not stepped: its cost comes from its size and one forward pass, and the run is said not to fit', async () => {
    const teacher = loadTeacher(await readAnyModel([{ name: 'song.pt', bytes: edmStateDictBytes(tinySongUnet()) }]));
    const tensors = tf.memory().numTensors;
    const limit = { bytes: 1000, why: 'a 1000-byte test limit' };
    const cost = await measureStepCost(teacher, { limit });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(cost.estimated).toBe(true);
    expect(cost.secondsPerSample).toBeGreaterThan(0);
    const shape = runShape(cost, limit, { batch: 32, steps: 10 });
    expect(shape.fits).toBe(false);
    expect(shape.warning).toMatch(/^its weights, optimiser state and update alone need about .+, more than a 1000-byte test limit allows, and a step of batch 32 would take about .+: this teacher is too large for wasm here\. Distil it on a GPU/);
    teacher.dispose();
  });
});

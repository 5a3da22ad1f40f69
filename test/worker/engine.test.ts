import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { StudioEngine, fixedNoise, slug } from '../../src/worker/engine';

describe('engine helpers', () => {
  beforeAll(async () => { await startBackend('cpu'); });

  it('fixedNoise is the same for the same seed and shape', () => {
    const a = fixedNoise(7, 4, [2], 80);
    const b = fixedNoise(7, 4, [2], 80);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Math.max(...Array.from(a.dataSync(), Math.abs))).toBeGreaterThan(1); // scaled by sigma_max
    tf.dispose([a, b]);
  });

  it('slug makes file-name-safe names', () => {
    expect(slug('moons (learned MLP teacher)')).toBe('moons-learned-mlp-teacher');
    expect(slug('***')).toBe('teacher');
  });

  it('reports a student file given as a teacher, and a teacher opened as a student, in words naming the file', async () => {
    const engine = new StudioEngine();
    const bytes = new Uint8Array(readFileSync('public/teachers/gaussian.safetensors'));
    await expect(engine.openStudent([{ name: 'gaussian.safetensors', bytes }])).rejects.toThrow(/^gaussian\.safetensors: is a teacher, not a student/);
    const info = await engine.loadTeacher([{ name: 'gaussian.safetensors', bytes }], { kind: 'files', names: ['gaussian.safetensors'] });
    expect(info).toMatchObject({ networkType: 'gaussian-mixture', parameterCount: null, components: 1, dataShape: [2] });
    const view = await engine.teacherView(4);
    expect(view).toMatchObject({ nfe: 7, count: 512, pathCount: 8, view: { kind: 'points2d' } });
    expect(view!.paths!.length).toBe(view!.times.length * 8 * 2);
    engine.dispose();
  });
});

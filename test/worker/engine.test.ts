import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { TrajectoryReference } from '../../src/core/metrics';
import { Network } from '../../src/core/nets';
import { DEFAULT_MLP } from '../../src/core/nets/mlp';
import { pidStudentX } from '../../src/core/pid';
import { Rng } from '../../src/core/rng';
import { initParams } from '../../src/core/nets';
import { GaussianMixtureDenoiser } from '../../src/core/teachers/gaussian-mixture';
import { DEFAULT_EDM } from '../../src/formats/config';
import { StudioEngine, fixedNoise, slug, studentAtTimes, trajectoryErrors } from '../../src/worker/engine';

describe('engine helpers', () => {
  beforeAll(async () => { await startBackend('cpu'); });

  it('studentAtTimes equals pidStudentX time by time, and trajectoryErrors equals TrajectoryReference.errorOf', async () => {
    const rng = new Rng(3);
    const spec = { ...DEFAULT_MLP, hidden: 16, blocks: 1, emb_dim: 8 };
    const host = initParams(spec, [2], rng);
    // give the zero-initialised output layers some weight so that F is not 0
    for (const [name, t] of host) if (name.startsWith('out') || name.includes('fc1')) t.data.forEach((_, i) => { t.data[i] = 0.05 * Math.sin(i + 1); });
    const net = new Network(spec, [2], host, false);
    const teacher = new GaussianMixtureDenoiser({ weights: [0.5, 0.5], means: [[-0.5, 0], [0.5, 0.2]], stds: [0.1, 0.2] });
    const z = fixedNoise(1, 6, [2], DEFAULT_EDM.sigma_max);
    const ref = new TrajectoryReference(teacher, DEFAULT_EDM, z, 12);

    const batched = studentAtTimes(net.apply, DEFAULT_EDM, z, ref.times);
    const oneByOne = tf.stack(ref.times.map((t) => pidStudentX(net.apply, DEFAULT_EDM, z, tf.fill([6], t) as tf.Tensor1D)));
    expect(batched.shape).toEqual([12, 6, 2]);
    const diff = tf.max(tf.abs(tf.sub(batched, oneByOne))).dataSync()[0];
    expect(diff).toBeLessThan(1e-5);

    const [mine] = await trajectoryErrors(ref, [net.apply]);
    const core = await ref.errorOf(net.apply);
    expect(mine.rmsePath).toBeCloseTo(core.rmsePath, 5);
    expect(mine.rmseEnd).toBeCloseTo(core.rmseEnd, 5);
    expect(mine.relEnd).toBeCloseTo(core.relEnd, 5);
    tf.dispose([batched, oneByOne, z]);
    ref.dispose();
    teacher.dispose();
    net.dispose();
  });

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
    expect(view.paths!.length).toBe(view.times.length * 8 * 2);
    engine.dispose();
  });
});

import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { StudioEngine, fixedNoise, slug, teacherWeightsTaken } from '../../src/worker/engine';

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
  it("an EDM snapshot teacher's card says its weights are the snapshot's EMA network and where its preconditioning was read", async () => {
    const engine = new StudioEngine();
    const bytes = new Uint8Array(readFileSync('test/fixtures/edm-snapshots/vp-ddpmpp-cond.pkl'));
    const info = await engine.loadTeacher([{ name: 'vp.pkl', bytes }], { kind: 'files', names: ['vp.pkl'] });
    expect(info).toMatchObject({ precond: 'vp', precondAssumed: false, precondChoosable: false, labelDim: 4, architecture: 'EDM SongUNet (DDPM++)' });
    expect(info.weightsTaken).toBe("the snapshot's 'ema' network (EMA weights)");
    expect(info.precondFrom).toBe("the snapshot's VPPrecond");
    engine.dispose();
    // other files keep their wording (the card words 'state dict' and a checkpoint's entry itself), with no precondFrom
    expect(teacherWeightsTaken(undefined)).toBeNull();
    expect(teacherWeightsTaken({ format: 'pytorch', taken: 'ema', prefix: '', precondGiven: false })).toBe('ema');
    expect(teacherWeightsTaken({ format: 'safetensors', taken: 'state dict', prefix: '', precondGiven: false })).toBe('state dict');
  }, 60_000);
  it("opens a bare network (.pt, .pkl, state-dict .safetensors) as a PID student, with the loaded teacher's preconditioning", async () => {
    const fixture = (name: string) => [{ name, bytes: new Uint8Array(readFileSync(`test/fixtures/pid-students/${name}`)) }];
    const engine = new StudioEngine();
    // no teacher loaded: the student is sampled from its own noise, its preconditioning EDM's (assumed)
    const a = await engine.openStudent(fixture('ddpmpp-fp16.pt'));
    expect(a.info).toMatchObject({ name: 'ddpmpp-fp16 (PID student)', teacherName: null, teacherSha256: null, pid: null, matchesTeacher: false, networkType: 'edm-songunet', dataShape: [8, 8, 3] });
    expect(a.info.bare).toEqual({ format: 'pytorch', precond: 'edm', precondFrom: "assumed: EDM's" });
    expect(a.view.samples.every(Number.isFinite)).toBe(true);
    expect(a.view.count).toBeGreaterThan(0);
    // an EDM snapshot says its own
    const b = await engine.openStudent(fixture('ncsnpp-ve.pkl'));
    expect(b.info.bare).toEqual({ format: 'edm-snapshot', precond: 've', precondFrom: "the snapshot's VEPrecond" });
    // with a VP teacher loaded, a bare state dict takes the teacher's c_in and c_noise
    await engine.loadTeacher(fixture('adm-cond-vp.safetensors'), { kind: 'files', names: ['adm-cond-vp.safetensors'], precond: 'vp' });
    const c = await engine.openStudent(fixture('adm-cond-vp.safetensors'));
    expect(c.info.bare).toEqual({ format: 'safetensors', precond: 'vp', precondFrom: "the loaded teacher's" });
    expect(c.view.samples.every(Number.isFinite)).toBe(true);
    engine.dispose();
  }, 120_000);
});

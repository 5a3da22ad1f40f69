/**
 * The built-in teachers' index: every recommended setting is one the settings table accepts, and every shipped
 * student is a student of its teacher (sha256), loads, and is as good as its description says.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { withLabels } from '../../src/core/edm';
import { TrajectoryReference } from '../../src/core/metrics';
import { loadStudent, loadTeacher } from '../../src/core/models';
import { Rng } from '../../src/core/rng';
import type { BuiltinIndex } from '../../src/core/teachers/builtin';
import { readModelFile } from '../../src/formats/model-file';
import { RUN_DEFAULTS, runSettingsProblems } from '../../src/formats/run-settings';

const index: BuiltinIndex = JSON.parse(readFileSync('public/teachers/index.json', 'utf8'));
const read = (path: string) => readModelFile([{ name: path.split('/').pop()!, bytes: new Uint8Array(readFileSync(path)) }]);

describe('built-in teachers and students', () => {
  beforeAll(async () => { await startBackend('wasm'); });

  it('recommended settings are valid run settings', () => {
    const withAdvice = index.teachers.filter((t) => t.recommended);
    // none at present: the digits follow the plan for the machine and Quick's learning rate (README, Measured)
    expect(withAdvice.map((t) => t.id)).toEqual([]);
    for (const t of withAdvice) expect(runSettingsProblems({ ...RUN_DEFAULTS, ...t.recommended })).toEqual([]);
  });

  it('each shipped student was distilled from its teacher and loads', async () => {
    const withStudent = index.teachers.filter((t) => t.student);
    expect(withStudent.length).toBeGreaterThanOrEqual(2);
    for (const t of withStudent) {
      const teacher = await read(`public/teachers/${t.file}`);
      const student = await read(`public/students/${t.student!.file}`);
      expect(student.config.role).toBe('student');
      expect(student.config.student!.teacher.sha256).toBe(teacher.sha256);
      loadStudent(student).dispose();
    }
  });

  // The digits students' stated one-step errors, measured again as `distill` measured them (its validation noise:
  // 64 draws of seed 0 + 2, the teacher's Heun on 32 Karras points), and not by chance: an undistilled student is far off.
  for (const [id, stated] of [['mnist14-unet', 0.169], ['mnist28-unet', 0.206]] as const) {
    it(`the ${id} student is within its stated ${(100 * stated).toFixed(1)} % of the teacher's ODE solution`, async () => {
      const entry = index.teachers.find((t) => t.id === id)!;
      expect(entry.student!.description).toContain(`one-step error ${(100 * stated).toFixed(1)} %`);
      const teacherModel = await read(`public/teachers/${entry.file}`);
      const teacher = loadTeacher(teacherModel);
      const student = loadStudent(await read(`public/students/${entry.student!.file}`));
      const untrained = loadTeacher(teacherModel); // the student as it starts: the teacher's own weights
      const { edm, data } = teacher.config;
      const size = data.shape.reduce((a, b) => a * b, 1);
      const z = tf.tensor(new Rng(2).normals(64 * size, edm.sigma_max), [64, ...data.shape]);
      const reference = new TrajectoryReference(withLabels(teacher.denoiser, undefined), edm, z, 32, teacher.precond);
      const error = await reference.errorOf(student.network.apply);
      expect(Math.abs(error.relEnd - stated)).toBeLessThan(0.005);
      expect((await reference.errorOf(untrained.network!.apply)).relEnd).toBeGreaterThan(2 * stated);
      reference.dispose();
      z.dispose();
      [student, teacher, untrained].forEach((m) => m.dispose());
    });
  }

  it('the moons student is within its stated 9.3 % of the teacher\'s ODE solution', async () => {
    const entry = index.teachers.find((t) => t.id === 'moons-mlp')!;
    const teacher = loadTeacher(await read(`public/teachers/${entry.file}`));
    const student = loadStudent(await read(`public/students/${entry.student!.file}`));
    const { edm } = teacher.config;
    const z = tf.tensor(new Rng(2).normals(256 * 2, edm.sigma_max), [256, 2]);
    const reference = new TrajectoryReference(withLabels(teacher.denoiser, undefined), edm, z, 128, teacher.precond);
    const error = await reference.errorOf(student.network.apply);
    expect(error.relEnd).toBeLessThan(0.1);
    expect(error.relEnd).toBeGreaterThan(0.08); // the description's figure, measured with the CLI's validation noise
    reference.dispose();
    z.dispose();
    student.dispose();
    teacher.dispose();
  });
});

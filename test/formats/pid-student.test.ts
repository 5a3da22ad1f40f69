/**
 * PID-reference students (role 'student' on a bare network): a SongUNet or DhariwalUNet state dict (.pt, state-dict
 * .safetensors) or an EDM snapshot (.pkl) sampled in one step as the PID reference's OneShotDenoiser does. The
 * fixtures in test/fixtures/pid-students/ were written with EDM's networks (test/torch/make_pid_students.py), the .pt
 * as fp16 training leaves it (every tensor a view at a non-zero offset into one shared float32 storage on "cuda:0");
 * expected.json holds x = (sigma_min/T) z + (1 - sigma_min/T) F(c_in(T) z, c_noise(sigma_min)) in float64.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ReadOptions, readAnyModel } from '../../src/core/model-import';
import { loadStudent } from '../../src/core/models';
import { ModelFileError } from '../../src/formats/errors';
import { readTorchStateDict } from '../../src/formats/torch-file';
import { readStoredZip } from '../../src/formats/zip';
import { useBackend } from '../helpers/backend';

const DIR = fileURLToPath(new URL('../fixtures/pid-students', import.meta.url));
interface Case { file: string; network: string; precond: 'edm' | 'vp' | 've'; sigma_min: number; sigma_max: number; z: number[]; labels: number[][] | null; x: number[]; shape: number[] }
const expected: Record<string, Case> = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8'));
const bytesOf = (file: string) => new Uint8Array(readFileSync(join(DIR, file)));
/** max |ours - float64| must stay under this times max |x| (float32 round-off through a network). */
const TOLERANCE = 2e-6;

/** The one-step sample of a case's file read as a student, and its largest difference from the float64 one. */
async function oneStep(name: string, change?: (tensors: Map<string, { data: Float32Array }>) => void): Promise<{ diff: number; scale: number }> {
  const c = expected[name];
  const options: ReadOptions = { role: 'student', ...(c.file.endsWith('.pkl') ? {} : { precond: c.precond }) };
  const model = await readAnyModel([{ name: c.file, bytes: bytesOf(c.file) }], options);
  change?.(model.tensors);
  const student = loadStudent(model);
  const x = tf.tidy(() => student.sample(tf.mul(tf.tensor(c.z, c.shape), model.config.edm.sigma_max), c.labels ? tf.tensor2d(c.labels) : undefined));
  const ours = await x.data();
  x.dispose();
  student.dispose();
  let diff = 0;
  let scale = 0;
  ours.forEach((v, i) => { diff = Math.max(diff, Math.abs(v - c.x[i])); scale = Math.max(scale, Math.abs(c.x[i])); });
  return { diff, scale };
}

beforeAll(() => useBackend('cpu'));

describe('PID-reference students', () => {
  for (const [name, c] of Object.entries(expected)) {
    it(`${c.file} (${c.network}, ${c.precond}): the one-step sample equals the reference's in float64 to float32 round-off`, async () => {
      const model = await readAnyModel([{ name: c.file, bytes: bytesOf(c.file) }], { role: 'student', ...(c.file.endsWith('.pkl') ? {} : { precond: c.precond }) });
      expect(model.config.role).toBe('student');
      expect(model.config.student).toBeUndefined();
      expect(model.config.precond?.type ?? 'edm').toBe(c.precond);
      expect([model.config.edm.sigma_min, model.config.edm.sigma_max]).toEqual([c.sigma_min, c.sigma_max]);
      expect([...model.tensors.keys()].some((k) => k.startsWith('map_augment'))).toBe(false);
      const { diff, scale } = await oneStep(name);
      console.log(`${name}: max |x - x_ref(float64)| = ${diff.toExponential(2)}, max |x| = ${scale.toFixed(3)}`);
      expect(scale).toBeGreaterThan(0.1);
      expect(diff).toBeLessThan(TOLERANCE * scale);
    });
  }

  it('the comparison can fail: one weight changed by 1e-3 is told apart', async () => {
    const { diff, scale } = await oneStep('ddpmpp-fp16', (t) => { t.get('dec.8x8_aux_conv.bias')!.data[0] += 1e-3; });
    expect(diff).toBeGreaterThan(10 * TOLERANCE * scale);
  });

  it('the fp16-training .pt is what it claims: one shared storage on "cuda:0", every tensor a view at a non-zero offset, NaN between them', () => {
    const bytes = bytesOf('ddpmpp-fp16.pt');
    const zip = readStoredZip(bytes, 'ddpmpp-fp16.pt');
    const names = [...zip.entries.keys()];
    expect(names.filter((n) => /\/data\/[^/]+$/.test(n))).toHaveLength(1);
    const pkl = Buffer.from(zip.read(names.find((n) => n.endsWith('/data.pkl'))!)).toString('latin1');
    expect(pkl).toContain('cuda:0');
    expect(pkl).not.toContain('cpu');
    const storage = zip.read(names.find((n) => /\/data\/[^/]+$/.test(n))!);
    const floats = new Float32Array(storage.buffer.slice(storage.byteOffset, storage.byteOffset + storage.byteLength));
    expect(Number.isNaN(floats[0])).toBe(true); // the gap before the first view: reading at offset 0 would read NaN
    // read as it is: every tensor finite (the reader refuses NaN), so each came from its own offset
    const dict = readTorchStateDict(bytes, 'ddpmpp-fp16.pt');
    expect(dict.tensors.size).toBe(146);
    const total = [...dict.tensors.values()].reduce((s, t) => s + t.data.length, 0);
    expect(floats.length).toBe(total + 3 * dict.tensors.size + 5);
  });

  it('without role student a bare file is a teacher; loadStudent says so', async () => {
    const model = await readAnyModel([{ name: 'ddpmpp-fp16.pt', bytes: bytesOf('ddpmpp-fp16.pt') }]);
    expect(model.config.role).toBe('teacher');
    expect(() => loadStudent(model)).toThrow(/is a teacher, not a student/);
  });

  it('a pid-studio file keeps the role its config says: role student on a teacher file is refused in one line', async () => {
    const { writeModelFile } = await import('../../src/formats/model-file');
    const teacher = await readAnyModel([{ name: 'ddpmpp-fp16.pt', bytes: bytesOf('ddpmpp-fp16.pt') }]);
    const bytes = writeModelFile(teacher.config, teacher.tensors);
    const refused = await readAnyModel([{ name: 'teacher.safetensors', bytes }], { role: 'student' }).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(ModelFileError);
    expect((refused as Error).message).toMatch(/teacher\.safetensors: is a teacher, not a student\. Fix: choose a distilled student file/);
  });
});

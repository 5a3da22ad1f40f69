/**
 * Writes the analytic built-in teachers and public/teachers/index.json. The learned teachers are made by
 * `npm run train-teacher` (see README) and listed here by file.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { ANALYTIC_TEACHERS, type BuiltinEntry, type BuiltinIndex, DEFAULT_TEACHER_ID } from '../src/core/teachers/builtin';
import { DEFAULT_EDM, type PidStudioConfig } from '../src/formats/config';
import { writeModelFile } from '../src/formats/model-file';

const dir = 'public/teachers';
// A UNet on a CPU wants a smaller batch and lr than the Quick preset's (README: the digits runs).
// The shipped students (public/students/) were distilled with `pid-studio distill` (README: built-in students).
const LEARNED: BuiltinEntry[] = [
  { id: 'moons-mlp', file: 'moons-mlp.safetensors', name: 'Two moons (learned MLP)', description: 'a 64-wide, 2-block MLP teacher trained with the EDM loss on two moons (npm run train-teacher)',
    student: {"file": "moons-mlp-student.safetensors", "name": "Two moons, PID student (4000 steps)", "description": "4000 steps, batch 256, N 250, RAdam 1e-2 decaying to 1e-4, EMA 0.999, on wasm (about 2 minutes on a 2-core CPU): one-step error 9.3 % of the teacher's ODE solution."} },
  { id: 'mnist14-unet', file: 'mnist14-unet.safetensors', name: 'MNIST digits 14x14 (UNet)', description: 'a 103k-parameter UNet teacher trained with the EDM loss on 14x14 MNIST digits (npm run train-teacher)',
    student: {"file": "mnist14-unet-student.safetensors", "name": "Digits 14x14, PID student (3000 steps)", "description": "3000 steps, batch 32, N 250, RAdam 1e-2 decaying to 1e-3 (the Quick preset), EMA 0.99, on wasm (10 minutes on a busy 2-core CPU): one-step error 16.9 % of the teacher's ODE solution; FD 27.1 at 1 NFE against the teacher's 11.1 at 35 NFE (n 1000)."} },
  { id: 'mnist28-unet', file: 'mnist28-unet.safetensors', name: 'MNIST digits 28x28 (UNet)', description: 'a 160k-parameter, three-level UNet teacher trained with the EDM loss on 28x28 MNIST digits (npm run train-teacher)',
    student: { file: 'mnist28-unet-student.safetensors', name: 'Digits 28x28, PID student (3000 steps)',
      description: "3000 steps, batch 32, N 250, RAdam 1e-2 decaying to 1e-3 (the Quick preset), EMA 0.99, on wasm (37 minutes on a busy 2-core CPU): one-step error 20.6 % of the teacher's ODE solution; FD 49.1 at 1 NFE against the teacher's 33.5 at 35 NFE (n 1000)." } },
];

const index: BuiltinIndex = { default: DEFAULT_TEACHER_ID, teachers: [] };
for (const t of LEARNED) {
  if (!existsSync(`${dir}/${t.file}`)) throw new Error(`${dir}/${t.file} is missing: train it first (README)`);
  if (t.student && !existsSync(`public/students/${t.student.file}`)) throw new Error(`public/students/${t.student.file} is missing: distil it first (README)`);
  index.teachers.push(t);
}
for (const t of ANALYTIC_TEACHERS) {
  const config: PidStudioConfig = { format: 'pid-studio/1', role: 'teacher', name: t.name, data: { shape: [2], range: [-1, 1] }, edm: DEFAULT_EDM, network: t.network };
  writeFileSync(`${dir}/${t.id}.safetensors`, writeModelFile(config, new Map()));
  index.teachers.push({ id: t.id, file: `${t.id}.safetensors`, name: t.name, description: t.description });
}
writeFileSync(`${dir}/index.json`, JSON.stringify(index, null, 2) + '\n');
console.log(`wrote ${index.teachers.length} teachers to ${dir}`);

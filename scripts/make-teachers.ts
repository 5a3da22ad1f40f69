/**
 * Writes the analytic built-in teachers and public/teachers/index.json. The learned teachers are made by
 * `npm run train-teacher` (see README) and listed here by file.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { ANALYTIC_TEACHERS, type BuiltinIndex, DEFAULT_TEACHER_ID } from '../src/core/teachers/builtin';
import { DEFAULT_EDM, type PidStudioConfig } from '../src/formats/config';
import { writeModelFile } from '../src/formats/model-file';

const dir = 'public/teachers';
const LEARNED = [
  { id: 'moons-mlp', name: 'Two moons (learned MLP)', description: 'a 64-wide, 2-block MLP teacher trained with the EDM loss on two moons (npm run train-teacher)' },
  { id: 'mnist14-unet', name: 'MNIST digits 14x14 (UNet)', description: 'a 103k-parameter UNet teacher trained with the EDM loss on 14x14 MNIST digits (npm run train-teacher)' },
  { id: 'mnist28-unet', name: 'MNIST digits 28x28 (UNet)', description: 'a 160k-parameter, three-level UNet teacher trained with the EDM loss on 28x28 MNIST digits (npm run train-teacher)' },
];

const index: BuiltinIndex = { default: DEFAULT_TEACHER_ID, teachers: [] };
for (const t of LEARNED) {
  if (!existsSync(`${dir}/${t.id}.safetensors`)) throw new Error(`${dir}/${t.id}.safetensors is missing: train it first (README)`);
  index.teachers.push({ ...t, file: `${t.id}.safetensors` });
}
for (const t of ANALYTIC_TEACHERS) {
  const config: PidStudioConfig = { format: 'pid-studio/1', role: 'teacher', name: t.name, data: { shape: [2], range: [-1, 1] }, edm: DEFAULT_EDM, network: t.network };
  writeFileSync(`${dir}/${t.id}.safetensors`, writeModelFile(config, new Map()));
  index.teachers.push({ id: t.id, file: `${t.id}.safetensors`, name: t.name, description: t.description });
}
writeFileSync(`${dir}/index.json`, JSON.stringify(index, null, 2) + '\n');
console.log(`wrote ${index.teachers.length} teachers to ${dir}`);

/**
 * The PID loss and gradient of torch/train.py (torch/pid_torch.py) against the TypeScript engine's
 * (src/core/pid.ts pidLossOfStudent, what PidTrainer differentiates) on one fixed batch written here: equal to float32
 * round-off, for the mlp and unet network types. Needs /usr/bin/python3 with torch (Debian's python3-torch); skipped,
 * saying so, without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karrasSigmas } from '../../src/core/edm';
import { loadTeacher } from '../../src/core/models';
import { Network } from '../../src/core/nets';
import { drawGridPairs, pidLossOfStudent } from '../../src/core/pid';
import { Rng } from '../../src/core/rng';
import type { LossName } from '../../src/core/pid-settings';
import { readModelFile } from '../../src/formats/model-file';
import { writeSafetensors } from '../../src/formats/safetensors';
import { useBackend } from '../helpers/backend';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn(`pid-torch.test.ts skipped: ${PYTHON} cannot import torch and numpy (install Debian's python3-torch)`);
const SCRIPT = fileURLToPath(new URL('../torch/pid_loss_grad.py', import.meta.url));
const teacherPath = (name: string) => fileURLToPath(new URL(`../../public/teachers/${name}.safetensors`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pid-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CASES: { teacher: string; batch: number; N: number; loss: LossName }[] = [
  { teacher: 'moons-mlp', batch: 64, N: 250, loss: 'l2' },
  { teacher: 'moons-mlp', batch: 32, N: 40, loss: 'pseudo-huber' },
  { teacher: 'mnist14-unet', batch: 2, N: 250, loss: 'l2' },
];

describe.skipIf(!hasTorch)('PID loss and gradient: PyTorch (torch/pid_torch.py) against TypeScript (pid.ts)', () => {
  beforeAll(() => useBackend('cpu'));
  for (const c of CASES) {
    it(`${c.teacher}, batch ${c.batch}, N ${c.N}, ${c.loss}: the same loss and gradient to float32 round-off`, async () => {
      const path = teacherPath(c.teacher);
      const model = await readModelFile([{ name: path, bytes: new Uint8Array(readFileSync(path)) }]);
      const teacher = loadTeacher(model);
      const { edm, data } = model.config;
      const dim = data.shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(11);
      const z = rng.normals(c.batch * dim, edm.sigma_max);
      const [n, nNext] = drawGridPairs(rng, c.N, c.batch);
      const grid = karrasSigmas(c.N, edm.sigma_min, edm.sigma_max, edm.rho);
      const name = `${c.teacher}-${c.loss}`;
      writeFileSync(join(dir, `${name}-batch.safetensors`), writeSafetensors(new Map([
        ['z', { shape: [c.batch, ...data.shape], data: z }],
        ['n', { shape: [c.batch], data: Float32Array.from(n) }],
        ['n_next', { shape: [c.batch], data: Float32Array.from(nNext) }],
      ]), { N: String(c.N), loss: c.loss }));

      const student = new Network(teacher.network!.spec, data.shape, teacher.weights!, true);
      const batch = { z, dataShape: data.shape, t: Array.from(n, (i) => grid[i]), tNext: Array.from(nNext, (i) => grid[i]) };
      const { value, grads } = tf.tidy(() => {
        const lossOf = pidLossOfStudent(student.apply, (y, t) => teacher.denoiser.denoise(y, t), edm, c.loss, batch, teacher.precond);
        return tf.variableGrads(lossOf, [...student.params.values()] as tf.Variable[]);
      });
      const tsLoss = (await value.data())[0];
      const tsGrad = new Map<string, Float32Array>();
      for (const [param, v] of student.params) tsGrad.set(param, (await grads[(v as tf.Variable).name].data()) as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
      student.dispose();
      teacher.dispose();

      const r = spawnSync(PYTHON, [SCRIPT, path, join(dir, `${name}-batch.safetensors`), join(dir, `${name}-out.json`)], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
      expect(r.status, r.stderr).toBe(0);
      const torchOut: { loss: number; grad: Record<string, number[]> } = JSON.parse(readFileSync(join(dir, `${name}-out.json`), 'utf8'));
      const lossRel = Math.abs(torchOut.loss - tsLoss) / Math.abs(tsLoss);
      let maxDiff = 0;
      let maxAbs = 0;
      let sq = 0;
      let sqDiff = 0;
      expect(Object.keys(torchOut.grad).sort()).toEqual([...tsGrad.keys()].sort());
      for (const [param, g] of tsGrad) {
        const t = torchOut.grad[param];
        expect(t.length).toBe(g.length);
        g.forEach((v, i) => {
          maxDiff = Math.max(maxDiff, Math.abs(v - t[i]));
          maxAbs = Math.max(maxAbs, Math.abs(v));
          sq += v * v;
          sqDiff += (v - t[i]) ** 2;
        });
      }
      const gradRel = Math.sqrt(sqDiff / sq);
      console.log(`${name}: loss ts ${tsLoss} torch ${torchOut.loss} (relative ${lossRel.toExponential(2)}); gradient relative l2 difference ${gradRel.toExponential(2)}, max |diff| ${maxDiff.toExponential(2)} of max |g| ${maxAbs.toExponential(2)}`);
      expect(lossRel).toBeLessThan(1e-5);
      expect(gradRel).toBeLessThan(5e-5);
      expect(maxDiff / maxAbs).toBeLessThan(5e-5);
    }, 120_000);
  }
});

/**
 * The first run, as a newcomer makes it: the built page with no URL settings, Start pressed and nothing else. "auto"
 * must not pick the software WebGPU adapter this Chromium offers, the run must finish by itself, and the downloaded
 * student's one-step samples must be within 10 % of the teacher's Heun samples from the same noise.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { readSafetensors } from '../src/formats/safetensors';
import { cli, downloadBytes, watchPage } from './helpers';

/** ||x_student - x_teacher|| / ||x_teacher|| over all samples (the CLI's and the studio's "relative" error). */
function relativeError(student: Float32Array, teacher: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < teacher.length; i++) {
    diff += (student[i] - teacher[i]) ** 2;
    norm += teacher[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

const samplesOf = (path: string) => readSafetensors(new Uint8Array(readFileSync(path)), path).tensors.get('x')!.data as Float32Array;

test('the default teacher, Start and nothing else: a student within 10 % of the teacher in about a minute', async ({ page, baseURL }) => {
  test.setTimeout(600_000);
  const seen = watchPage(page, baseURL!);
  await page.goto('');
  const badge = page.getByTestId('backend-badge');
  await expect(badge).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  await expect(page.getByTestId('backend-reason')).toContainText('software');
  const start = page.getByRole('button', { name: 'Start', exact: true });
  await expect(start).toBeEnabled({ timeout: 120_000 });
  const t0 = Date.now();
  await start.click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 480_000 });
  const seconds = (Date.now() - t0) / 1000;

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download student' }).click();
  const file = await download;
  const tmp = mkdtempSync(join(tmpdir(), 'pid-first-run-'));
  const studentPath = join(tmp, file.suggestedFilename());
  writeFileSync(studentPath, await downloadBytes(file));
  const config = JSON.parse(JSON.parse(readFileSync(studentPath).subarray(8, 8 + Number(readFileSync(studentPath).readBigUInt64LE(0))).toString('utf8')).__metadata__.pid_studio);

  const studentSamples = join(tmp, 'student-x.safetensors');
  const teacherSamples = join(tmp, 'teacher-x.safetensors');
  const s = await cli(['sample', '--model', studentPath, '--n', '2048', '--seed', '7', '--out', studentSamples, '--backend', 'wasm']);
  expect(s.code, s.stderr).toBe(0);
  const t = await cli(['sample', '--model', 'builtin:moons-mlp', '--n', '2048', '--seed', '7', '--out', teacherSamples, '--backend', 'wasm']);
  expect(t.code, t.stderr).toBe(0);
  const rel = relativeError(samplesOf(studentSamples), samplesOf(teacherSamples));
  console.log(`first run: ${config.student.pid.steps} steps (batch ${config.student.pid.batch}, lr ${config.student.pid.lr} -> ${config.student.pid.lr_final}) on wasm in ${seconds.toFixed(0)} s; one-step samples ${(100 * rel).toFixed(1)} % from the teacher's Heun samples (2048 noises)`);
  expect(rel).toBeLessThan(0.1);
  expect(seen.errors).toEqual([]);
});

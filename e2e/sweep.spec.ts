/**
 * The Sweep panel on wasm: bad values refused before a run, an N sweep on the single Gaussian run in the worker
 * (paused and resumed on the way), its rows and chart, the CSV, the PNG and a run's student that the CLI accepts.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { cli, downloadBytes, parseCsv, watchPage } from './helpers';

test('sweeps N on the Gaussian teacher: rows, chart, CSV, PNG and students', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?teacher=gaussian&backend=wasm&batch=16&steps=300&evalEvery=100&heunSteps=4');
  await expect(page.getByTestId('teacher-card')).toContainText('Gaussian', { timeout: 120_000 });
  const panel = page.getByTestId('sweep-panel');
  const start = panel.getByRole('button', { name: 'Start sweep' });
  const values = panel.getByLabel('Values (comma-separated)');

  await values.fill('10, 1, 100');
  await expect(panel.getByTestId('sweep-problem')).toHaveText("N: '1' is refused: N must be between 2 and 100000");
  await expect(start).toBeDisabled();
  await values.fill('10, 100');
  await expect(panel.getByTestId('sweep-problem')).toHaveCount(0);
  await expect(start).toBeEnabled({ timeout: 240_000 }); // once the teacher's views are solved

  await start.click();
  const status = panel.getByTestId('sweep-status');
  await expect(status).toHaveAttribute('data-phase', 'running');
  const runStart = page.getByRole('button', { name: 'Start', exact: true });
  await expect(runStart).toBeDisabled(); // a sweep and a single run exclude each other
  await expect(runStart).toHaveAttribute('title', 'a sweep is running: stop it first');
  await panel.getByRole('button', { name: 'Pause sweep' }).click();
  await expect(status).toHaveAttribute('data-phase', 'paused');
  await expect(runStart).toBeDisabled();
  await panel.getByRole('button', { name: 'Resume sweep' }).click();
  await expect(status).toHaveAttribute('data-phase', 'done', { timeout: 240_000 });
  await expect(status).toHaveAttribute('data-runs', '2');
  await expect(panel.getByTestId('sweep-row')).toHaveCount(2);
  const canvas = panel.getByTestId('sweep-canvas');
  await expect(canvas).toHaveAttribute('data-runs', '2');
  await expect(canvas).toHaveAttribute('data-x-axis', 'log');

  const csvDownload = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download sweep CSV' }).click();
  const csvFile = await csvDownload;
  expect(csvFile.suggestedFilename()).toBe('gaussian-sweep-N.csv');
  const rows = parseCsv((await downloadBytes(csvFile)).toString('utf8'));
  expect(rows.map((r) => r.N)).toEqual(['10', '100']);
  const euler = rows.map((r) => Number(r.grid_euler_relative));
  expect(euler[0]).toBeCloseTo(0.27, 1); // Euler on 10 Karras points: 27 % off the exact solution; 100 points: 2.8 %
  expect(euler[1]).toBeCloseTo(0.028, 2);
  for (const r of rows) expect(Number(r.one_step_relative)).toBeGreaterThan(0);

  const pngDownload = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download sweep PNG' }).click();
  const png = await downloadBytes(await pngDownload);
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');

  const studentDownload = page.waitForEvent('download');
  await panel.getByTestId('sweep-row').nth(1).getByRole('button', { name: 'student' }).click();
  const student = await studentDownload;
  expect(student.suggestedFilename()).toBe('gaussian-pid-student-N-100.safetensors');
  const path = join(tmpdir(), `pid-sweep-e2e-${Date.now()}.safetensors`);
  writeFileSync(path, await downloadBytes(student));
  const inspected = await cli(['inspect', path]);
  expect(inspected.code).toBe(0);
  expect(inspected.stdout).toContain('N 100');
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

/** Without WebGPU (no adapter), and with the wasm backend asked for: the studio says what runs and why. */
import { expect, test } from '@playwright/test';
import { stepOf, watchPage } from './helpers';

test('with WebGPU unavailable the run falls back and the badge says so', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?batch=32&steps=6&evalEvery=3&heunSteps=4');
  const badge = page.getByTestId('backend-badge');
  await expect(badge).toContainText('fallback:', { timeout: 60_000 });
  await expect(badge).toContainText('webgpu');
  const got = await badge.getAttribute('data-backend');
  expect(['webgl', 'wasm', 'cpu']).toContain(got);
  await expect(badge).toContainText(`backend ${got}`);

  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 120_000 });
  expect(await stepOf(page)).toBe(6);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

test('the wasm backend, asked for, runs from the site\'s own .wasm files', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  const wasm: string[] = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(r.url()); });
  await page.goto('?backend=wasm&batch=32&steps=4&evalEvery=2&heunSteps=4');
  const badge = page.getByTestId('backend-badge');
  await expect(badge).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  await expect(badge).toContainText('asked wasm');
  await expect(page.getByLabel('Backend')).toHaveValue('wasm');
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 120_000 });
  expect(wasm.length).toBeGreaterThan(0);
  for (const url of wasm) expect(url.startsWith(baseURL!)).toBe(true);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

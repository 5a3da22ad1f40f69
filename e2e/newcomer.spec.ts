/**
 * What a newcomer tripped over, on a phone-sized screen: no sideways scroll, Start within the first screen and the
 * sweep last (after the settings it refers to), the sample canvas drawn at its CSS
 * size (its 12 px text is 12 px), a loading teacher shown as loading with Start disabled, keyboard steps through the
 * Backend select restarting the worker once, and an opened student (with its "(the loaded teacher)") gone once
 * another teacher loads.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { REPO, downloadBytes, watchPage } from './helpers';

const WIDTH = 390;
const HEIGHT = 844;
test.use({ viewport: { width: WIDTH, height: HEIGHT }, deviceScaleFactor: 2 });

test('390 px wide: no horizontal scroll, Start on the first screen, the sweep last, a loading teacher disables Start', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  // Hold the teacher file back, so the loading state can be seen for as long as the test needs.
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  await page.route('**/teachers/moons-mlp.safetensors', async (route) => {
    await held;
    await route.continue();
  });
  await page.goto('?backend=wasm');
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });

  const start = page.getByRole('button', { name: 'Start', exact: true });
  const phase = page.getByTestId('run-phase');
  await expect(page.getByTestId('teacher-loading')).toContainText('Loading Two moons');
  await expect(start).toBeDisabled();
  await expect(phase).toHaveAttribute('data-waiting', 'true');
  await expect(phase).toContainText('waiting (loading the teacher Two moons (learned MLP))');
  await expect(page.getByRole('button', { name: 'Open a student' })).toBeDisabled();
  // the sample view agrees with the card
  await expect(page.getByTestId('sample-canvas')).toHaveAttribute('data-waiting', 'Loading the teacher Two moons (learned MLP)');

  release();
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  await expect(start).toBeEnabled({ timeout: 60_000 });
  await expect(phase).toHaveAttribute('data-waiting', 'false');
  await expect(phase).toContainText('Run: ready');
  await expect(page.getByTestId('sample-canvas')).toHaveAttribute('data-waiting', '');

  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    wider: [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}`).slice(0, 5),
  }));
  console.log(`at ${WIDTH} px: scrollWidth ${layout.scrollWidth}, clientWidth ${layout.clientWidth}`);
  expect(layout.wider).toEqual([]);
  expect(layout.scrollWidth).toBeLessThanOrEqual(layout.clientWidth);
  const box = (await start.boundingBox())!;
  console.log(`Start at y ${Math.round(box.y)} of a ${HEIGHT} px screen`);
  expect(box.y + box.height).toBeLessThanOrEqual(HEIGHT);
  for (const name of ['Pause', 'Stop']) expect((await page.getByRole('button', { name, exact: true }).boundingBox())!.y).toBeLessThan(HEIGHT);
  const headings = await page.locator('main h2').evaluateAll((hs) => hs.map((h) => ({ text: h.textContent, top: h.getBoundingClientRect().top })));
  expect(headings.sort((a, b) => a.top - b.top).map((h) => h.text)).toEqual(['Distillation', 'Teacher', 'Settings', 'Live', 'Samples', 'Student file', 'Sweep']);

  // One canvas unit per CSS pixel: the canvas's 12 px text is 12 CSS px (it was about 4 px), sharp at 2x.
  const canvas = await page.getByTestId('sample-canvas').evaluate((c: HTMLCanvasElement) => ({
    width: c.width, height: c.height, cssWidth: c.clientWidth, cssHeight: c.clientHeight, dpr: devicePixelRatio,
  }));
  console.log(`sample canvas: ${JSON.stringify(canvas)}`);
  expect(canvas.dpr).toBe(2);
  expect(Math.abs(canvas.width - canvas.cssWidth * canvas.dpr)).toBeLessThanOrEqual(2);
  expect(Math.abs(canvas.height - canvas.cssHeight * canvas.dpr)).toBeLessThanOrEqual(2);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

test('ArrowDown through the Backend select restarts the worker once, when the keys stop', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  let workers = 0;
  page.on('worker', (w) => { if (w.url().includes('studio.worker')) workers++; });
  await page.goto('?backend=auto');
  const select = page.getByLabel('Backend');
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 120_000 });
  expect(workers).toBe(1);
  await select.focus();
  for (let i = 0; i < 3; i++) {
    await page.keyboard.press('ArrowDown');
    await page.waitForTimeout(120);
  }
  await expect(select).toHaveValue('wasm'); // auto -> webgpu -> webgl -> wasm
  await expect.poll(() => workers, { timeout: 10_000 }).toBe(2);
  await page.waitForTimeout(1500);
  expect(workers).toBe(2);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  expect(seen.errors).toEqual([]);
});

test('after "Open a student", another teacher drops the opened student and its old error', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm&batch=32&steps=6&evalEvery=3');
  const start = page.getByRole('button', { name: 'Start', exact: true });
  await expect(start).toBeEnabled({ timeout: 120_000 });
  await start.click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 120_000 });
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download student' }).click();
  const studentPath = join(mkdtempSync(join(tmpdir(), 'pid-newcomer-')), 'student.safetensors');
  writeFileSync(studentPath, await downloadBytes(await download));

  const open = async (path: string) => {
    const chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Open a student' }).click();
    await (await chooser).setFiles(path);
  };
  await open(studentPath);
  const opened = page.getByTestId('opened-student');
  await expect(opened).toContainText('(the loaded teacher)', { timeout: 60_000 });
  await expect(page.getByTestId('opened-status')).toContainText('Sampled 512 points in one step');
  await expect(page.getByTestId('sample-canvas')).toHaveAttribute('data-student-source', 'opened');
  await open(join(REPO, 'public/teachers/moons-mlp.safetensors'));
  await expect(page.getByTestId('student-error')).toContainText('is a teacher, not a student');

  await page.getByLabel('Built-in teacher').selectOption('gaussian');
  await expect(page.getByTestId('teacher-card')).toContainText('Single Gaussian', { timeout: 60_000 });
  // nothing of the moons student is left to be read against the new teacher
  await expect(opened).toHaveCount(0);
  await expect(page.getByTestId('student-error')).toHaveCount(0);
  await expect(page.getByTestId('sample-canvas')).toHaveAttribute('data-student-source', '');
  expect(seen.errors).toEqual([]);
});

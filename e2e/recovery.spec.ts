/**
 * Nothing lost, on WebGPU (SwiftShader): the WebGPU device is destroyed mid-run as a GPU reset would; the worker
 * starts a new device, goes back to the last checkpoint and trains on. Then the page is reloaded: it offers the run
 * saved in IndexedDB, and Resume continues it from the saved step with its curves.
 */
import { type Page, expect, test } from '@playwright/test';
import { downloadBytes, parseCsv, sendToWorker, stepOf, waitForStep, watchPage } from './helpers';

const RUN = { backend: 'webgpu', batch: 32, steps: 400, lr: 0.01, evalEvery: 1000, checkpoint: 2 };
const QUERY = `?${new URLSearchParams(Object.entries(RUN).map(([k, v]) => [k, String(v)]))}`;

async function checkpointStep(page: Page): Promise<number> {
  const c = page.getByTestId('checkpoint');
  await expect(c).toHaveAttribute('data-stored', 'true', { timeout: 60_000 });
  return Number(await c.getAttribute('data-step'));
}

test('a lost GPU device and a reload cost a few steps, not the run', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto(QUERY);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'webgpu', { timeout: 60_000 });
  const start = page.getByRole('button', { name: 'Start', exact: true });
  await expect(start).toBeEnabled({ timeout: 120_000 });
  await start.click();
  await waitForStep(page, 6);
  await expect.poll(() => checkpointStep(page), { timeout: 60_000 }).toBeGreaterThan(0);

  // The device goes away.
  const lostNear = await stepOf(page);
  await sendToWorker(page, { type: 'simulate-device-loss' });
  const notice = page.getByTestId('notice');
  await expect(notice).toContainText(/Restarted on webgpu .*went back to the checkpoint of step \d+: \d+ steps? to redo\./, { timeout: 180_000 });
  const text = await notice.innerText();
  const [, lostAt, backTo, redo] = /at step (\d+)\..* step (\d+): (\d+) step/.exec(text)!.map(Number);
  console.log(`device loss: lost at step ${lostAt}, back to the checkpoint of step ${backTo}, ${redo} steps redone: "${text}"`);
  expect(lostAt).toBeGreaterThanOrEqual(lostNear);
  expect(backTo).toBeGreaterThan(0);
  expect(lostAt - backTo).toBe(redo);
  expect(text).toMatch(/^The GPU device was lost \(destroyed/);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'webgpu');
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'training');
  await waitForStep(page, lostAt + 3, 180_000);

  // A reload: the page offers the run saved in this browser.
  await expect.poll(() => checkpointStep(page), { timeout: 60_000 }).toBeGreaterThan(lostAt);
  const atReload = await stepOf(page);
  await page.reload();
  const banner = page.getByTestId('saved-run');
  await expect(banner).toBeVisible({ timeout: 60_000 });
  const saved = Number(await banner.getAttribute('data-step'));
  console.log(`reload at step ${atReload}: the saved run is at step ${saved}, ${atReload - saved} steps lost (checkpoint every ${RUN.checkpoint} s)`);
  expect(saved).toBeGreaterThan(lostAt);
  expect(saved).toBeLessThanOrEqual(atReload);
  await expect(banner).toContainText(`step ${saved} of ${RUN.steps}`);
  await banner.getByRole('button', { name: `Resume from step ${saved}` }).click();
  await expect(banner).toBeHidden({ timeout: 120_000 }); // a resumed run replaces the offer with its own checkpoints
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'training', { timeout: 120_000 });
  await waitForStep(page, saved + 2, 180_000);
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'paused', { timeout: 30_000 });

  // The curves go on from the start of the run: every step once, no gap at the device loss or the reload.
  const csvDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download loss CSV' }).click();
  const rows = parseCsv((await downloadBytes(await csvDownload)).toString('utf8')).filter((r) => r.loss !== '');
  const steps = rows.map((r) => Number(r.step));
  expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
  expect(steps.length).toBeGreaterThanOrEqual(saved + 2);
  expect(rows.every((r) => Number.isFinite(Number(r.loss)))).toBe(true);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

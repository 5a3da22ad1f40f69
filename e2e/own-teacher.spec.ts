/**
 * A user's own image teacher on its defaults (no GPU: wasm): an EDM .pt dropped on the page is timed, the settings
 * follow the plan for it on this machine (batch, steps, cadence, micro-batch, memory), Start with nothing changed
 * trains; a run that kills the backend (wasm's "Aborted()") restarts the worker and Start works again, no reload.
 */
import { expect, test } from '@playwright/test';
import { edmStateDictBytes, tinySongUnet } from '../test/helpers/edm-teacher';
import { dropFiles, sendToWorker, waitForStep, watchPage } from './helpers';

test('an EDM .pt on its defaults: a plan, Start with nothing changed, and Start again after the backend died', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm');
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  await dropFiles(page, 'teacher-dropzone', [{ name: 'ddpmpp-like.pt', bytes: Array.from(edmStateDictBytes(tinySongUnet())) }]);
  await expect(page.getByTestId('teacher-architecture')).toHaveText('EDM SongUNet (DDPM++)', { timeout: 120_000 });
  const plan = page.getByTestId('run-plan');
  await expect(plan).toContainText(/^Here this run takes: batch 32(, | as )/, { timeout: 120_000 });
  console.log(await plan.innerText());
  await expect(page.getByLabel('Batch', { exact: true })).toHaveValue('32'); // the plan's, not the 2D default of 256

  const start = page.getByRole('button', { name: 'Start', exact: true });
  await expect(start).toBeEnabled({ timeout: 120_000 });
  await start.click();
  await waitForStep(page, 3);
  await expect(page.getByTestId('training-error')).toHaveCount(0);

  await sendToWorker(page, { type: 'simulate-backend-failure' });
  await expect(page.getByTestId('notice')).toContainText('The worker was restarted and the teacher loaded again, so Start works again', { timeout: 60_000 });
  await expect(page.getByTestId('notice')).toContainText('the wasm backend ran out of memory');
  await expect(start).toBeEnabled({ timeout: 180_000 });
  await start.click();
  await waitForStep(page, 1);
  await expect(page.getByTestId('training-error')).toHaveCount(0);
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'stopped', { timeout: 120_000 });
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

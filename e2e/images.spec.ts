/** The built-in MNIST teacher (a UNet on 14x14 digits) loads in the studio, distils on wasm and shows digit grids. */
import { expect, test } from '@playwright/test';
import { stepOf, watchPage } from './helpers';

test('the 14x14 digits teacher loads, distils and shows teacher and student grids', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm&teacher=mnist14-unet&batch=8&steps=6&evalEvery=3&heunSteps=4');
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  const card = page.getByTestId('teacher-card');
  await expect(card).toContainText('MNIST digits 14x14 (UNet)', { timeout: 120_000 });
  await expect(card).toContainText('unet');
  await expect(card).toContainText('14');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 240_000 });
  expect(await stepOf(page)).toBe(6);
  if (process.env.PID_SCREENSHOTS === '1') await page.screenshot({ path: 'docs/screenshot-digits.png', fullPage: true }); // npm run screenshots
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

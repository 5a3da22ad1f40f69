/** The built page runs under a Content-Security-Policy without eval, and makes no request to another origin. */
import { expect, test } from '@playwright/test';
import { stepOf, watchPage } from './helpers';

test('a CSP without unsafe-eval holds through a whole run, with no violation and no foreign request', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.addInitScript(() => {
    const w = window as unknown as { cspViolations: string[] };
    w.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`));
  });
  await page.goto('?backend=wasm&batch=32&steps=5&evalEvery=5&heunSteps=4');
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain('unsafe-eval');
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 120_000 });
  expect(await stepOf(page)).toBe(5);
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download PNG' }).click();
  await download;
  expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

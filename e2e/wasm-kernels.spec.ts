/**
 * The wasm kernels of src/core/kernels/ (the SIMD filter gradient, batched product and GroupNorm compiled from
 * wasm/kernels.ts, Concat and SplitV) in Chromium, against its cpu backend and central differences: e2e/wasm-kernels/entry.ts,
 * bundled here and served on the site's origin with tfjs-wasm's own binaries.
 */
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { expect, test } from '@playwright/test';
import { REPO } from './helpers';

test('the wasm kernels match the cpu backend and central differences in the browser', async ({ page, baseURL }) => {
  const bundle = await build({
    entryPoints: [`${REPO}/e2e/wasm-kernels/entry.ts`], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
  });
  await page.route(`${baseURL}wasm-kernels/*`, (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop()!;
    if (name.endsWith('.wasm')) {
      return route.fulfill({ contentType: 'application/wasm', body: readFileSync(`${REPO}/node_modules/@tensorflow/tfjs-backend-wasm/dist/${name}`) });
    }
    return route.fulfill(name.endsWith('.js')
      ? { contentType: 'text/javascript', body: bundle.outputFiles[0].text }
      : { contentType: 'text/html', body: '<!doctype html><script type="module" src="checks.js"></script>' });
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${baseURL}wasm-kernels/index.html`);
  await page.waitForFunction(() => 'runChecks' in globalThis);
  const r = await page.evaluate((prefix) => (globalThis as unknown as { runChecks(p: string): Promise<never> }).runChecks(prefix), `${baseURL}wasm-kernels/`) as {
    backend: string; simd: boolean; simdCalls: number; filter: number; input: number; product: number; joined: number; split: number; groupNorm: number;
    differences: { worst: number; nonzero: number };
  };
  console.log(`wasm kernels in Chromium: ${JSON.stringify(r)}`);
  expect(r.backend).toBe('wasm');
  expect(r.simd).toBe(true);
  expect(r.simdCalls).toBe(2); // the filter gradient and the GroupNorm gradient
  for (const k of ['filter', 'input', 'product', 'joined', 'split', 'groupNorm'] as const) expect(r[k], k).toBeLessThan(1e-5);
  expect(r.differences.worst).toBeLessThan(2e-3);
  expect(r.differences.nonzero).toBeGreaterThan(5);
  expect(errors).toEqual([]);
});

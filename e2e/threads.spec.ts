/**
 * Served with COOP/COEP (e2e/serve.mjs, as a static host should), the built page is cross-origin isolated and the
 * worker's wasm backend runs threaded (tfjs's threaded SIMD binary and its pthread workers, a short run trained on
 * them); with the headers stripped it runs single-threaded and says why. Timing is bench/wasm-threads.mjs's job.
 */
import { expect, test, type Page } from '@playwright/test';
import { stepOf, watchPage } from './helpers';

const RUN = '?backend=wasm&batch=32&steps=5&evalEvery=5&heunSteps=4';
/**
 * The worker gives one thread per logical core but one (src/core/wasm-threads.ts), so on a 2-core machine it runs
 * single-threaded; the worker is told it has 3 cores, as a 3-core machine's would say, and runs 2 threads.
 */
const CORES = 3;

async function reportCores(page: Page, cores: number): Promise<void> {
  await page.route(/studio\.worker[^/]*\.js$/, async (route) => {
    const response = await route.fetch();
    const body = `Object.defineProperty(self.navigator, 'hardwareConcurrency', { configurable: true, get: () => ${cores} });\n${await response.text()}`;
    await route.fulfill({ response, body });
  });
}

interface BackendEvent { got: string; wasmThreads?: number; wasmThreadsReason?: string }

/** Keeps every `backend` event the studio's worker posts to the page (the protocol's own report). */
async function recordBackendEvents(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const events: unknown[] = [];
    (window as unknown as { backendEvents: unknown[] }).backendEvents = events;
    const Original = window.Worker;
    window.Worker = class extends Original {
      constructor(url: string | URL, options?: WorkerOptions) {
        super(url, options);
        this.addEventListener('message', (e: MessageEvent) => { if (e.data?.type === 'backend') events.push(e.data.backend); });
      }
    };
  });
}

async function firstBackendEvent(page: Page): Promise<BackendEvent> {
  await page.waitForFunction(() => (window as unknown as { backendEvents: unknown[] }).backendEvents.length > 0, null, { timeout: 60_000 });
  return page.evaluate(() => (window as unknown as { backendEvents: BackendEvent[] }).backendEvents[0]);
}

test('the built page is cross-origin isolated and trains on threaded wasm', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  const failed: string[] = [];
  page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  page.on('requestfailed', (r) => failed.push(`${r.failure()?.errorText} ${r.url()}`));
  const workerHeaders = page.waitForResponse((r) => /studio\.worker[^/]*\.js$/.test(r.url())).then((r) => r.allHeaders());
  await recordBackendEvents(page);
  await reportCores(page, CORES);
  await page.goto(RUN);

  expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
  expect((await workerHeaders)['cross-origin-embedder-policy']).toBe('require-corp');
  const backend = await firstBackendEvent(page);
  // tfjs's own count of its thread pool, read after the backend started.
  expect(backend).toMatchObject({ got: 'wasm', wasmThreads: CORES - 1 });
  expect(backend.wasmThreadsReason).toBeUndefined();

  // The built-in teacher, the worker's wasm binary and a short run all work under require-corp.
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 120_000 });
  expect(await stepOf(page)).toBe(5);
  expect(failed).toEqual([]);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});

test('without the isolation headers the wasm backend runs single-threaded and says why', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.route((url) => url.pathname === new URL(baseURL!).pathname, async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['cross-origin-opener-policy'];
    delete headers['cross-origin-embedder-policy'];
    await route.fulfill({ response, headers });
  });
  await recordBackendEvents(page);
  await page.goto(RUN);

  expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
  const backend = await firstBackendEvent(page);
  expect(backend).toMatchObject({ got: 'wasm', wasmThreads: 1, wasmThreadsReason: 'the page is not cross-origin isolated' });
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  expect(seen.errors).toEqual([]);
});

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Download, Page } from '@playwright/test';

/** Requests to any origin but the served site (the studio must make none), and errors thrown in the page. */
export function watchPage(page: Page, base: string): { foreign: string[]; errors: string[] } {
  const origin = new URL(base).origin;
  const seen = { foreign: [] as string[], errors: [] as string[] };
  page.on('request', (r) => {
    const url = r.url();
    if (url.startsWith('blob:') || url.startsWith('data:')) return;
    if (new URL(url).origin !== origin) seen.foreign.push(url);
  });
  page.on('pageerror', (e) => seen.errors.push(e.message));
  page.on('worker', (w) => w.on('console', () => undefined));
  return seen;
}

export const stepOf = async (page: Page): Promise<number> => Number(await page.getByTestId('step-count').getAttribute('data-step'));

/** Waits until the run has reached at least `step` (training on a software adapter takes about a second a step). */
export async function waitForStep(page: Page, step: number, timeoutMs = 240_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await stepOf(page);
    if (s >= step) return s;
    const phase = await page.getByTestId('run-phase').getAttribute('data-phase');
    if (phase === 'failed') throw new Error(`the run failed: ${await page.getByTestId('training-error').innerText()}`);
    if (Date.now() > end) throw new Error(`step ${step} not reached in ${timeoutMs} ms (at ${s}, phase ${phase})`);
    await page.waitForTimeout(250);
  }
}

/** The worker's memory as the page shows it (tf.memory(): tensors, bytes, GPU bytes in use). */
export async function memoryOf(page: Page): Promise<{ numTensors: number; numBytes: number; gpuBytes: number | null }> {
  const m = page.getByTestId('memory');
  const num = async (attr: string) => {
    const v = await m.getAttribute(attr);
    return v === null || v === '' ? null : Number(v);
  };
  return { numTensors: (await num('data-tensors'))!, numBytes: (await num('data-bytes'))!, gpuBytes: await num('data-gpu-bytes') };
}

/** Sends a command to the training worker as if the page had (for what the page never sends: simulate-device-loss). */
export async function sendToWorker(page: Page, command: object): Promise<void> {
  const worker = page.workers().find((w) => w.url().includes('studio.worker'));
  if (!worker) throw new Error(`no studio worker among ${page.workers().map((w) => w.url()).join(', ') || 'none'}`);
  await worker.evaluate((data) => { self.dispatchEvent(new MessageEvent('message', { data })); }, command);
}

export async function downloadBytes(download: Download): Promise<Buffer> {
  const stream = await download.createReadStream();
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const REPO = fileURLToPath(new URL('..', import.meta.url));

/** Runs the pid-studio CLI; resolves with its exit code and output. */
export function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/pid-studio.mjs', ...args], { cwd: REPO, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Drops files on an element the way a user's drag and drop does (a DataTransfer with File objects). */
export async function dropFiles(page: Page, testId: string, files: { name: string; bytes: number[] }[]): Promise<void> {
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
    return dt;
  }, files);
  await page.getByTestId(testId).dispatchEvent('dragover', { dataTransfer });
  await page.getByTestId(testId).dispatchEvent('drop', { dataTransfer });
}

export function parseCsv(text: string): Record<string, string>[] {
  const [head, ...rows] = text.trim().split('\n');
  const keys = head.split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [keys[i], v])));
}

export const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

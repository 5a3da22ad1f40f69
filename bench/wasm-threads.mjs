// PID steps/s on tfjs-backend-wasm in headless Chromium, single-threaded against threaded: the same worker
// (bench/wasm-threads-worker.ts, bundled here) served once without and once with COOP/COEP, in alternating rounds
// so that a change in the machine's load falls on both. A measurement to read, never a test.
// Usage: node bench/wasm-threads.mjs [rounds]   (PID_CHROMIUM overrides /usr/bin/chromium)
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.argv[2] ?? 3);
const WASM_DIR = join(REPO, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
const CASES = [
  { label: 'moons MLP, batch 256', url: '/teachers/moons-mlp.safetensors', batch: 256, warmup: 3, steps: 60 },
  { label: 'mnist14 UNet, batch 32', url: '/teachers/mnist14-unet.safetensors', batch: 32, warmup: 2, steps: 10 },
];
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

// Not minified: tfjs starts its pthread workers from the text of a function, which a minifier can break.
const bundle = await build({
  entryPoints: [join(REPO, 'bench/wasm-threads-worker.ts')], bundle: true, format: 'esm', platform: 'browser',
  target: 'es2022', write: false, logLevel: 'silent', minify: false,
  define: { 'process.env.NODE_ENV': '"production"' },
});
const workerJs = bundle.outputFiles[0].text;
const PAGE = '<!doctype html><meta charset="utf-8"><title>wasm threads bench</title>';

function serve(isolated) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const headers = isolated ? { ...ISOLATION } : {};
    try {
      if (path === '/') return res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(PAGE);
      if (path === '/bench.js') return res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(workerJs);
      if (path.startsWith('/wasm/') && WASM_FILES.includes(basename(path))) {
        return res.writeHead(200, { ...headers, 'content-type': 'application/wasm' }).end(await readFile(join(WASM_DIR, basename(path))));
      }
      if (path.startsWith('/teachers/')) {
        return res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' }).end(await readFile(join(REPO, 'public/teachers', basename(path))));
      }
    } catch { /* a missing file is a 404 below */ }
    res.writeHead(404).end('not found');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function runOnce(browser, server, wasmThreads) {
  const origin = `http://127.0.0.1:${server.address().port}`;
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/`);
    const wasmPaths = Object.fromEntries(WASM_FILES.map((f) => [f, `${origin}/wasm/${f}`]));
    return await page.evaluate(({ wasmPaths, wasmThreads, cases }) => new Promise((resolve) => {
      const worker = new Worker('bench.js', { type: 'module' });
      worker.onmessage = (e) => { resolve(e.data); worker.terminate(); };
      worker.onerror = (e) => resolve({ ok: false, error: e.message || 'the worker failed to start' });
      worker.postMessage({ wasmPaths, wasmThreads, cases });
    }), { wasmPaths, wasmThreads, cases: CASES });
  } finally {
    await page.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const plain = await serve(false);
const isolated = await serve(true);
const browser = await chromium.launch({ executablePath: process.env.PID_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-features=WebGPU'] });
const version = browser.version();
// Threads asked for explicitly: on fewer than 3 cores the studio itself stays single-threaded (src/core/wasm-threads.ts).
// The threaded binary on one thread separates what its shared memory costs from what the threads' sync costs.
const modes = [
  { name: 'single-threaded binary', server: plain, runs: [] },
  { name: 'threaded binary, 1 thread', server: isolated, threads: 1, runs: [] },
  { name: 'threaded binary, 2 threads', server: isolated, threads: 2, runs: [] },
];
const loadBefore = loadavg()[0];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 ? [...modes].reverse() : modes) {
      const r = await runOnce(browser, mode.server, mode.threads);
      if (!r.ok) throw new Error(`${mode.name} run failed: ${r.error}`);
      mode.runs.push(r);
      console.log(`round ${round + 1} ${mode.name}: ${r.report.wasmThreads} thread(s)${r.report.wasmThreadsReason ? ` (${r.report.wasmThreadsReason})` : ''}, `
        + r.results.map((x) => `${x.label} ${x.stepsPerSecond.toFixed(2)} steps/s`).join(', '));
    }
  }
} finally {
  await browser.close();
  plain.close();
  isolated.close();
}

console.log(`\nmachine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; Chromium ${version} headless; load average ${loadBefore.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after; median of ${ROUNDS} runs each`);
console.log(`| PID step | ${modes.map((m) => `${m.name} (${m.runs[0].report.wasmThreads}): steps/s`).join(' | ')} | 2 threads / single-threaded binary |`);
console.log(`|---|${modes.map(() => '---|').join('')}---|`);
CASES.forEach((c, i) => {
  const m = modes.map((mode) => median(mode.runs.map((r) => r.results[i].stepsPerSecond)));
  console.log(`| ${c.label} | ${m.map((x) => x.toFixed(2)).join(' | ')} | ${(m[2] / m[0]).toFixed(2)}x |`);
});

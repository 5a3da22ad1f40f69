/**
 * The README's sweep picture: a results.json of `pid-studio sweep` drawn by the studio's own chart code
 * (src/ui/sweep-plot.ts and sweep-draw.ts, bundled with esbuild) in headless Chromium, saved as a PNG.
 *
 *   node bin/run-ts.mjs scripts/sweep-figure.ts results.json docs/sweep.png [width]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { chromium } from 'playwright-core';

const [input, output, widthArg] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node bin/run-ts.mjs scripts/sweep-figure.ts <results.json> <out.png> [width, default 760]');
  process.exit(2);
}
const width = Number(widthArg ?? 760);
const results = JSON.parse(readFileSync(input, 'utf8'));
const root = fileURLToPath(new URL('..', import.meta.url));

const entry = `
import { runSettingSpec } from './src/formats/run-settings';
import { sweepChart } from './src/ui/sweep-plot';
import { drawSweepChart, sweepLayout } from './src/ui/sweep-draw';
globalThis.drawResults = (results, width) => {
  const key = results.sweep;
  const rows = results.runs.map((r) => ({ ...r, value: r[key], lastLoss: NaN, steps: 0 }));
  const analytic = rows.some((r) => r.gridEulerRelative !== undefined);
  const chart = sweepChart(runSettingSpec(key), rows.map((r) => r.value), rows, analytic);
  const { height } = sweepLayout(width, chart.panels.length);
  const canvas = document.createElement('canvas');
  canvas.width = width * 2;
  canvas.height = height * 2;
  document.body.appendChild(canvas);
  const ctx = canvas.getContext('2d');
  ctx.scale(2, 2);
  drawSweepChart(ctx, width, chart);
  return canvas.toDataURL('image/png');
};`;
const bundle = buildSync({ stdin: { contents: entry, resolveDir: root, loader: 'ts' }, bundle: true, write: false, format: 'iife', platform: 'browser' });

const browser = await chromium.launch({ executablePath: process.env.PID_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><html><body style="margin:0"></body></html>');
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
  const url = await page.evaluate(([r, w]) => (globalThis as unknown as { drawResults(r: unknown, w: number): string }).drawResults(r, w), [results, width] as const);
  writeFileSync(output, Buffer.from(url.replace(/^data:image\/png;base64,/, ''), 'base64'));
  console.log(`wrote ${output} (${width} CSS px wide, at 2x)`);
} finally {
  await browser.close();
}

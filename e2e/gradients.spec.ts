/**
 * Gradients on the browser's own GPU backends, the ones the studio trains on: Chromium's WebGPU (SwiftShader here)
 * in the webgpu project, WebGL (SwiftShader GL) in the no-webgpu one. The checks are scripts/webgpu-checks.ts, the
 * same that run in Node through Dawn (test/cli/webgpu-node.test.ts) and on a real GPU, bundled into a page that the
 * test serves on the site's origin.
 */
import { build } from 'esbuild';
import { expect, test } from '@playwright/test';
import { DIFFUSERS_GRAD_NET, EDM_FD, GROUP_NORM_VS_CPU_TOLERANCE, LAYERS_VS_CPU_TOLERANCE, PID_VS_CPU_TOLERANCE, UNET_FD } from '../scripts/webgpu-checks';
import { REPO } from './helpers';

test('the unet backpropagates correctly and PID gradients match cpu on the browser\'s GPU backend', async ({ page, baseURL }, info) => {
  test.setTimeout(900_000); // four networks' finite differences on a software GPU: about 6 minutes here
  const backend = info.project.name === 'webgpu' ? 'webgpu' : 'webgl';
  const bundle = await build({
    entryPoints: [`${REPO}/e2e/gradcheck/entry.ts`], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
    external: ['@tensorflow/tfjs-backend-wasm'], // not checked here, and its .wasm files are not served on this page
  });
  await page.route(`${baseURL}gradcheck/*`, (route) => {
    const js = route.request().url().endsWith('.js');
    return route.fulfill(js
      ? { contentType: 'text/javascript', body: bundle.outputFiles[0].text }
      : { contentType: 'text/html', body: '<!doctype html><script type="module" src="checks.js"></script>' });
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${baseURL}gradcheck/index.html`);
  await page.waitForFunction(() => 'runChecks' in globalThis);
  const r = await page.evaluate((b) => (globalThis as unknown as { runChecks(b: string): Promise<never> }).runChecks(b), backend) as {
    got: string; unet: { name: string; index: number; autodiff: number; finiteDifference: number; error: number }[];
    edm: Record<string, { name: string; index: number; autodiff: number; finiteDifference: number; error: number }[]>;
    diffusers: { name: string; index: number; autodiff: number; finiteDifference: number; error: number }[];
    pid: { lossCpu: number; lossGpu: number; maxDifference: number; largest: number; worst: string };
    groupNorm: { variants: { name: string; worst: number; what: string }[]; kernels: string[] };
    layers: { worst: number; what: string; flatExact: boolean; kernels: string[] };
    tensors: { numTensors: number[]; losses: number[]; msPerStep: number };
  };
  expect(r.got).toBe(backend);
  const worst = r.unet.reduce((a, b) => (b.error > a.error ? b : a));
  console.log(`${backend}: unet finite differences, worst of ${r.unet.length} probes ${worst.error.toExponential(2)} (${worst.name}[${worst.index}]); `
    + `PID gradient vs cpu ${r.pid.maxDifference.toExponential(2)} of ${r.pid.largest.toFixed(2)}; numTensors ${r.tensors.numTensors.join(' ')}; ${r.tensors.msPerStep.toFixed(0)} ms/step`);
  expect(r.unet).toHaveLength(36);
  for (const p of r.unet) expect(p.error, `${p.name}[${p.index}]: autodiff ${p.autodiff}, fd ${p.finiteDifference}`).toBeLessThan(UNET_FD.tolerance);
  expect(r.unet.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(24); // not vacuous
  expect(Object.keys(r.edm)).toHaveLength(2);
  for (const [which, probes] of Object.entries(r.edm)) {
    console.log(`${backend}: ${which} finite differences, worst of ${probes.length} probes ${Math.max(...probes.map((p) => p.error)).toExponential(2)}`);
    expect(probes).toHaveLength(36);
    for (const p of probes) expect(p.error, `${which} ${p.name}[${p.index}]: autodiff ${p.autodiff}, fd ${p.finiteDifference}`).toBeLessThan(EDM_FD.tolerance);
    expect(probes.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(18);
  }
  console.log(`${backend}: diffusers UNet2DModel finite differences, worst of ${r.diffusers.length} probes ${Math.max(...r.diffusers.map((p) => p.error)).toExponential(2)}`);
  expect(r.diffusers).toHaveLength(3 * DIFFUSERS_GRAD_NET.names.length);
  for (const p of r.diffusers) expect(p.error, `diffusers ${p.name}[${p.index}]: autodiff ${p.autodiff}, fd ${p.finiteDifference}`).toBeLessThan(EDM_FD.tolerance);
  expect(r.diffusers.filter((p) => Math.abs(p.autodiff) > 1e-3).length).toBeGreaterThan(r.diffusers.length / 2); // not vacuous
  expect(Math.abs(r.pid.lossGpu - r.pid.lossCpu)).toBeLessThan(1e-4 * Math.abs(r.pid.lossCpu));
  expect(r.pid.maxDifference, r.pid.worst).toBeLessThan(PID_VS_CPU_TOLERANCE * r.pid.largest);
  console.log(`${backend}: GroupNorm vs cpu, ${r.groupNorm.variants.map((v) => `${v.name} ${v.worst.toExponential(2)}`).join(', ')}`);
  expect(r.groupNorm.variants).toHaveLength(4);
  for (const v of r.groupNorm.variants) expect(v.worst, `${v.name}: worst at ${v.what}`).toBeLessThan(GROUP_NORM_VS_CPU_TOLERANCE);
  // webgpu: the fused programs of kernels/webgpu-group-norm.ts ran (webgl composes tf ops)
  if (backend === 'webgpu') expect(r.groupNorm.kernels).toEqual(expect.arrayContaining(['PidGroupNormAct', 'PidGroupNormActGrad']));
  console.log(`${backend}: Linear and Conv2d vs cpu, worst ${r.layers.worst.toExponential(2)} (${r.layers.what})`);
  expect(r.layers.worst, r.layers.what).toBeLessThan(LAYERS_VS_CPU_TOLERANCE);
  expect(r.layers.flatExact, 'flatConcat then flatSplit gives the tensors back exactly').toBe(true);
  // webgpu: nets/webgpu-layers.ts's kernels and the flat vector's copies ran
  if (backend === 'webgpu') expect(r.layers.kernels).toEqual(expect.arrayContaining(['_FusedMatMul', 'PidColumnSum', 'PidConvFilterGrad', 'PidFlatConcat', 'PidFlatSplit']));
  expect(r.tensors.losses.every(Number.isFinite)).toBe(true);
  expect(r.tensors.numTensors).toEqual(r.tensors.numTensors.map(() => r.tensors.numTensors[0]));
  expect(errors).toEqual([]);
});

import { defineConfig } from '@playwright/test';

// Debian's Chromium, headless. WebGPU there is SwiftShader (software): runs are kept small.
const CHROMIUM = process.env.PID_CHROMIUM ?? '/usr/bin/chromium';
const PORT = Number(process.env.PID_E2E_PORT ?? 4317);
const BASE_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export default defineConfig({
  testDir: '.',
  outputDir: '../test-results/e2e',
  timeout: 360_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}/pid-studio/`,
    headless: true,
    viewport: { width: 1440, height: 1000 },
    acceptDownloads: true,
    trace: 'off',
  },
  projects: [
    {
      name: 'webgpu',
      testMatch: ['first-run.spec.ts', 'studio.spec.ts', 'recovery.spec.ts', 'gradients.spec.ts'],
      use: { launchOptions: { executablePath: CHROMIUM, args: [...BASE_ARGS, '--enable-unsafe-webgpu'] } },
    },
    {
      // No --enable-unsafe-webgpu: headless Chromium on Linux then gives no WebGPU adapter.
      name: 'no-webgpu',
      testMatch: ['fallback.spec.ts', 'images.spec.ts', 'security.spec.ts', 'hostile.spec.ts', 'gradients.spec.ts', 'wasm-kernels.spec.ts', 'pytorch.spec.ts', 'newcomer.spec.ts', 'threads.spec.ts', 'sweep.spec.ts', 'own-teacher.spec.ts', 'edm-snapshot.spec.ts', 'run-zip.spec.ts'],
      use: { launchOptions: { executablePath: CHROMIUM, args: [...BASE_ARGS, '--disable-features=WebGPU'] } },
    },
  ],
  webServer: {
    command: `node e2e/serve.mjs dist ${PORT}`,
    cwd: '..',
    url: `http://127.0.0.1:${PORT}/pid-studio/`,
    reuseExistingServer: false,
    timeout: 30_000,
  },
});

import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// A static site that works from any folder of any static host: relative base, the worker as an ES module, the
// tfjs wasm binaries emitted as assets of this site (see src/worker/studio.worker.ts), nothing from other origins.
export default defineConfig({
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    assetsInlineLimit: 0,
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});

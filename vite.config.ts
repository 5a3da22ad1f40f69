import react from '@vitejs/plugin-react';
import { type Plugin, defineConfig } from 'vite';

/**
 * The built page's Content-Security-Policy: everything from this site only, no eval of any kind, no plugins, no
 * form posts. Inline style attributes are allowed (React's style props). Build only: the dev server injects inline
 * scripts for hot reloading. The worker (tfjs, wasm) is its own context and is governed by its response headers.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'none'",
].join('; ');

const contentSecurityPolicy = (): Plugin => ({
  name: 'pid-studio-csp',
  apply: 'build',
  transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY }, injectTo: 'head-prepend' }],
});

/**
 * Cross-origin isolation: with these two headers on the page (and on its worker scripts) the browser gives the
 * worker SharedArrayBuffer, and tfjs-backend-wasm runs its threaded SIMD binary (src/core/wasm-threads.ts).
 * require-corp is safe here: the site loads nothing from other origins. A static host must send the same.
 */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
} as const;

/**
 * tfjs-backend-wasm starts each pthread worker from the text of its threaded module's factory function
 * (`factory.toString()` in a Blob), so that function must not use variables of the scope around it. It reads one,
 * `_scriptDir`, guarded by `typeof`; a minifier drops the guard and renames the variable, and every pthread worker
 * then dies with "ReferenceError: e is not defined". Declaring `_scriptDir` inside the function keeps it whole.
 */
const THREADED_MODULE = /@tensorflow[\\/]tfjs-backend-wasm[\\/]wasm-out[\\/]tfjs-backend-wasm-threaded-simd\.js$/;
const FACTORY_START = 'function(WasmBackendModuleThreadedSimd) {\n  WasmBackendModuleThreadedSimd = WasmBackendModuleThreadedSimd || {};\n';
const selfContainedWasmThreads = (): Plugin => ({
  name: 'pid-studio-wasm-threads',
  transform(code, id) {
    if (!THREADED_MODULE.test(id.split('?')[0])) return null;
    if (code.split(FACTORY_START).length !== 2) {
      this.error(`tfjs-backend-wasm's threaded module no longer starts as vite.config.ts expects: update selfContainedWasmThreads (${id})`);
    }
    return { code: code.replace(FACTORY_START, `${FACTORY_START}  var _scriptDir = undefined;\n`), map: null };
  },
});

// A static site that works from any folder of any static host: relative base, the worker as an ES module, the
// tfjs wasm binaries emitted as assets of this site (see src/worker/studio.worker.ts), nothing from other origins.
export default defineConfig({
  base: './',
  plugins: [react(), contentSecurityPolicy(), selfContainedWasmThreads()],
  worker: { format: 'es', plugins: () => [selfContainedWasmThreads()] },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    assetsInlineLimit: 0,
  },
  server: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  preview: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
});

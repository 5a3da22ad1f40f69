/**
 * Picks and starts a tfjs backend and reports the truth: what was asked, what runs (tf.getBackend(), never
 * assumed) and why a fallback happened. Backends load lazily, so Node never pulls in the browser-only ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmThreadPlan, currentThreadEnvironment, planWasmThreads, withReportedCores } from './wasm-threads';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const BACKEND_NAMES: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface BackendReport {
  asked: BackendName | 'auto';
  got: string;
  /** Why the backend that runs is not the first one tried; absent when it is. */
  fallbackReason?: string;
  /** When `got` is wasm: the threads XNNPACK runs on (tfjs's getThreadsCount(), read after start). */
  wasmThreads?: number;
  /** When wasm runs on one thread: why (e.g. the page is not cross-origin isolated). */
  wasmThreadsReason?: string;
}

export interface BackendOptions {
  /** Where the browser finds tfjs-backend-wasm's .wasm files (file name -> URL); Node finds them itself. */
  wasmPaths?: Record<string, string>;
  /** Threads of the wasm backend where the page is cross-origin isolated (1 to 8); default: core/wasm-threads.ts. */
  wasmThreads?: number;
}

let wasmPlan: WasmThreadPlan = { threaded: false, threads: 1 };

async function load(name: BackendName, options: BackendOptions): Promise<void> {
  switch (name) {
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return;
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // Set, not probed: the threaded SIMD binary only when wasm-threads.ts plans threads (a cross-origin-isolated
      // browser context with cores to spare), else the single-threaded one as before.
      wasmPlan = planWasmThreads(currentThreadEnvironment(tf.env().getBool('IS_NODE')), options.wasmThreads);
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', wasmPlan.threaded);
      wasm.setThreadsCount(wasmPlan.threads);
      if (options.wasmPaths) wasm.setWasmPaths(options.wasmPaths);
      (await import('./kernels/wasm')).registerWasmKernels(); // conv gradients, zero-copy clone (architecture.md)
      return;
    }
    case 'webgl':
      await import('@tensorflow/tfjs-backend-webgl');
      return;
    case 'webgpu':
      if (typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu) {
        throw new Error('WebGPU is not available here (no navigator.gpu)');
      }
      await import('@tensorflow/tfjs-backend-webgpu');
      // Conv2DBackpropInput as the backend's tiled matrix product, not its naive one-thread-per-output default
      // (tested against cpu: test/cli/webgpu-layers.test.ts)
      tf.env().set('WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE', false);
      if (!(await import('./kernels/webgpu-addn')).installWebGpuAddNFix()) throw new Error('the webgpu AddN kernel could not be replaced (kernels/webgpu-addn.ts)');
      (await import('./kernels/webgpu-group-norm')).registerWebGpuGroupNorm(); // GroupNorm (+ SiLU, scale/shift) in 2 + 3 dispatches (#22)
      (await import('./kernels/webgpu-silu')).registerWebGpuSilu(); // SiLU in 1 + 1 dispatches (#22)
      (await import('./kernels/webgpu-flat-copies')).registerWebGpuFlatCopies(); // the optimiser's flat vector as copies (#22)
      (await import('./kernels/webgpu-column-sum')).registerWebGpuColumnSum(); // bias gradients; nets/webgpu-layers.ts (#22)
      (await import('./kernels/webgpu-conv-filter-grad')).registerWebGpuConvFilterGrad(); // tiled conv weight gradient (#22)
      (await import('./kernels/webgpu-add-scale')).registerWebGpuAddScale(); // EDM's residual sum and skip scale (#22)
      return;
  }
}

async function tryBackend(name: BackendName, options: BackendOptions): Promise<string | null> {
  try {
    await load(name, options);
    const start = async () => {
      const ok = await tf.setBackend(name);
      await tf.ready();
      return ok;
    };
    const ok = name === 'wasm' ? await withReportedCores(wasmPlan.threads, start) : await start();
    if (!ok || tf.getBackend() !== name) return `tfjs could not start the ${name} backend`;
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** What the wasm backend really runs on once started (nothing for another backend). */
async function wasmThreadReport(): Promise<Pick<BackendReport, 'wasmThreads' | 'wasmThreadsReason'>> {
  if (tf.getBackend() !== 'wasm') return {};
  const threads = (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount();
  if (threads === wasmPlan.threads && wasmPlan.threaded) return { wasmThreads: threads };
  return { wasmThreads: threads, wasmThreadsReason: wasmPlan.reason ?? `tfjs started ${threads} of the ${wasmPlan.threads} threads asked for` };
}

/** Starts `asked`, or for 'auto' the first that works of `order`; throws if the asked backend cannot start. */
export async function startBackend(
  asked: BackendName | 'auto',
  options: BackendOptions & { order?: BackendName[] } = {},
): Promise<BackendReport> {
  if (asked !== 'auto') {
    const failure = await tryBackend(asked, options);
    if (failure) throw new Error(`the ${asked} backend did not start: ${failure}`);
    return { asked, got: tf.getBackend(), ...(await wasmThreadReport()) };
  }
  const order = options.order ?? BACKEND_NAMES;
  const reasons: string[] = [];
  for (const name of order) {
    const failure = await tryBackend(name, options);
    if (!failure) {
      const threads = await wasmThreadReport();
      return reasons.length ? { asked, got: tf.getBackend(), fallbackReason: reasons.join('; '), ...threads } : { asked, got: tf.getBackend(), ...threads };
    }
    reasons.push(`${name}: ${failure}`);
  }
  throw new Error(`no tfjs backend started (${reasons.join('; ')})`);
}

/** wasm's ways of saying it died: out of memory, or an abort; its module is then unusable until it is started anew. */
const WASM_DEATH = /memory access out of bounds|out of memory|Aborted\(|Cannot enlarge memory/i;

/**
 * A backend failure in words a user can act on: tfjs-wasm reports running out of its memory (at most 4 GB, the
 * wasm32 address space) as "memory access out of bounds" or a bare "Aborted()"; anything else is passed through.
 */
export function explainBackendError(message: string): string {
  if (WASM_DEATH.test(message) && tf.getBackend() === 'wasm') {
    return `the wasm backend ran out of memory (${message.replace(/\.?\s*Build with -sASSERTIONS for more info\.?/, '')}; wasm has at most 4 GB, and a distillation holds the teacher, the student, its gradient, two optimiser moments, the EMA and a snapshot of them): use a smaller batch or micro-batch, or the webgpu backend`;
  }
  return message;
}

/** After this error the backend cannot go on (wasm aborted or out of memory): it must be started anew in a new worker. */
export function isBackendDead(message: string): boolean {
  return WASM_DEATH.test(message) && tf.getBackend() === 'wasm';
}

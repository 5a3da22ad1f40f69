/**
 * How many threads tfjs-backend-wasm may use. Its threaded SIMD binary needs SharedArrayBuffer, which a browser
 * gives only to a cross-origin-isolated page (COOP same-origin + COEP require-corp or credentialless); under Node
 * tfjs 4.22 cannot start it at all. Otherwise the single-threaded SIMD binary runs, as before.
 */

/**
 * One thread per logical core but one, at most 4. The core left over is the page's and the browser's: on this
 * 2-core machine, with other work running, 2 threads made the PID step 2.5 to 5.5 times slower than 1 (README,
 * bench/wasm-threads.mjs), since each of a step's ~1,000 kernel launches ends in a barrier that waits for every
 * thread. Earlier tfjs-backend-wasm releases capped at 4 too; the 4.22 build keeps a pool of 8 pthread workers.
 */
export const MAX_WASM_THREADS = 4;
export const MIN_CORES_FOR_THREADS = 3;

export const NOT_ISOLATED = 'the page is not cross-origin isolated';

export interface WasmThreadPlan {
  /** The threaded SIMD binary (SharedArrayBuffer memory), else the single-threaded one. */
  threaded: boolean;
  /** Threads to ask XNNPACK for. */
  threads: number;
  /** Why the single-threaded binary, when it is that one. */
  reason?: string;
}

export interface ThreadEnvironment {
  isNode: boolean;
  /** globalThis.crossOriginIsolated (undefined where the platform has no such notion). */
  crossOriginIsolated: boolean | undefined;
  /** navigator.hardwareConcurrency (logical cores), when known. */
  hardwareConcurrency: number | undefined;
}

/** This context's isolation and core count; `isNode` comes from tfjs (env IS_NODE). */
export function currentThreadEnvironment(isNode: boolean): ThreadEnvironment {
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  return { isNode, crossOriginIsolated: g.crossOriginIsolated, hardwareConcurrency: g.navigator?.hardwareConcurrency };
}

/**
 * `asked` (bench/wasm-threads.mjs) sets the count where threads are possible, 1 included, which runs the threaded
 * binary on one thread; without it, one thread per logical core but one, up to MAX_WASM_THREADS.
 */
export function planWasmThreads(env: ThreadEnvironment, asked?: number): WasmThreadPlan {
  if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1 && asked <= 8)) {
    throw new Error(`wasm threads must be a whole number from 1 to 8, got ${asked}`);
  }
  if (env.isNode) return { threaded: false, threads: 1, reason: 'tfjs-backend-wasm has no threads under Node' };
  if (env.crossOriginIsolated !== true) return { threaded: false, threads: 1, reason: NOT_ISOLATED };
  if (asked !== undefined) return { threaded: true, threads: asked };
  const cores = Math.floor(env.hardwareConcurrency ?? 1);
  if (!(cores >= MIN_CORES_FOR_THREADS)) {
    return { threaded: false, threads: 1, reason: `the browser reports ${cores > 1 ? cores : 'one'} logical core${cores > 1 ? 's' : ''}, and threads start at ${MIN_CORES_FOR_THREADS} (one is left to the page)` };
  }
  return { threaded: true, threads: Math.min(cores - 1, MAX_WASM_THREADS) };
}

/** The backend report's words for it: "threads: 2" or "single-threaded: <why>". */
export function wasmThreadsLabel(threads: number, reason?: string): string {
  if (threads > 1) return `threads: ${threads}`;
  return reason ? `single-threaded: ${reason}` : 'single-threaded';
}

/**
 * tfjs-backend-wasm 4.22 caps its thread pool at navigator.hardwareConcurrency / 2 (it assumes two hardware threads
 * per core; src/cc/backend.cc), read once while its module starts: on a 2-core machine one thread, whatever was
 * asked. While `start` runs, this context reports 2 * threads logical cores, so the pool gets the threads asked
 * for; the real value is back as soon as it is done.
 */
export async function withReportedCores<T>(threads: number, start: () => Promise<T>): Promise<T> {
  const nav = (globalThis as { navigator?: object }).navigator;
  if (!nav || threads <= 1) return start();
  const own = Object.getOwnPropertyDescriptor(nav, 'hardwareConcurrency');
  Object.defineProperty(nav, 'hardwareConcurrency', { configurable: true, get: () => 2 * threads });
  try {
    return await start();
  } finally {
    if (own) Object.defineProperty(nav, 'hardwareConcurrency', own);
    else delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

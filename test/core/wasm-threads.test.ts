import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_WASM_THREADS, NOT_ISOLATED, planWasmThreads, wasmThreadsLabel, withReportedCores } from '../../src/core/wasm-threads';

const browser = (crossOriginIsolated: boolean | undefined, hardwareConcurrency: number | undefined) => ({ isNode: false, crossOriginIsolated, hardwareConcurrency });

describe('planWasmThreads', () => {
  it('threads only in a cross-origin-isolated browser context, one per logical core but one, up to the cap', () => {
    expect(planWasmThreads(browser(true, 3))).toEqual({ threaded: true, threads: 2 });
    expect(planWasmThreads(browser(true, 4))).toEqual({ threaded: true, threads: 3 });
    expect(planWasmThreads(browser(true, 64))).toEqual({ threaded: true, threads: MAX_WASM_THREADS });
  });

  it('an asked count holds where threads are possible, one included, and nowhere else', () => {
    expect(planWasmThreads(browser(true, 2), 1)).toEqual({ threaded: true, threads: 1 });
    expect(planWasmThreads(browser(true, 2), 8)).toEqual({ threaded: true, threads: 8 });
    expect(planWasmThreads(browser(false, 16), 4)).toEqual({ threaded: false, threads: 1, reason: NOT_ISOLATED });
    for (const bad of [0, 9, 1.5, Number.NaN]) expect(() => planWasmThreads(browser(true, 2), bad)).toThrow(/whole number from 1 to 8/);
  });

  it('one thread, with the reason, everywhere else', () => {
    expect(planWasmThreads(browser(false, 16))).toEqual({ threaded: false, threads: 1, reason: NOT_ISOLATED });
    expect(planWasmThreads(browser(undefined, 16))).toEqual({ threaded: false, threads: 1, reason: NOT_ISOLATED });
    expect(planWasmThreads(browser(true, 2))).toEqual({ threaded: false, threads: 1, reason: 'the browser reports 2 logical cores, and threads start at 3 (one is left to the page)' });
    expect(planWasmThreads(browser(true, 1))).toMatchObject({ threaded: false, threads: 1 });
    expect(planWasmThreads(browser(true, undefined)).reason).toMatch(/reports one logical core,/);
    expect(planWasmThreads({ isNode: true, crossOriginIsolated: true, hardwareConcurrency: 16 })).toEqual({ threaded: false, threads: 1, reason: expect.stringMatching(/Node/) });
  });

  it('labels', () => {
    expect(wasmThreadsLabel(4)).toBe('threads: 4');
    expect(wasmThreadsLabel(1, NOT_ISOLATED)).toBe('single-threaded: the page is not cross-origin isolated');
    expect(wasmThreadsLabel(1)).toBe('single-threaded');
  });
});

describe('withReportedCores', () => {
  // As in a browser: the count is a getter on the prototype (WorkerNavigator), not an own property.
  class FakeNavigator { get hardwareConcurrency() { return 2; } }
  const real = 2;
  beforeAll(() => { vi.stubGlobal('navigator', new FakeNavigator()); });
  afterAll(() => { vi.unstubAllGlobals(); });
  afterEach(() => expect(navigator.hardwareConcurrency).toBe(real));

  it('reports twice the threads while it runs (tfjs halves the count) and the real count after, even on failure', async () => {
    expect(await withReportedCores(3, async () => navigator.hardwareConcurrency)).toBe(6);
    expect(Object.getOwnPropertyDescriptor(navigator, 'hardwareConcurrency')).toBeUndefined();
    await expect(withReportedCores(2, async () => { throw new Error('no start'); })).rejects.toThrow('no start');
  });

  it('puts back an own property that was there before', async () => {
    Object.defineProperty(navigator, 'hardwareConcurrency', { configurable: true, get: () => 5 });
    try {
      expect(await withReportedCores(2, async () => navigator.hardwareConcurrency)).toBe(4);
      expect(navigator.hardwareConcurrency).toBe(5);
    } finally {
      delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
    }
  });

  it('changes nothing for one thread', async () => {
    expect(await withReportedCores(1, async () => navigator.hardwareConcurrency)).toBe(real);
  });
});

describe('startBackend', () => {
  it('reports the wasm backend single-threaded under Node, with the reason, and nothing for another backend', async () => {
    const { startBackend } = await import('../../src/core/backend');
    expect(await startBackend('wasm')).toEqual({ asked: 'wasm', got: 'wasm', wasmThreads: 1, wasmThreadsReason: 'tfjs-backend-wasm has no threads under Node' });
    expect(await startBackend('cpu')).toEqual({ asked: 'cpu', got: 'cpu' });
  });
});

import { startBackend, type BackendName } from '../../src/core/backend';

/** Starts a tfjs backend for a test file; cpu is exact and simple, wasm is faster for training loops. */
export async function useBackend(name: BackendName): Promise<void> {
  const report = await startBackend(name);
  if (report.got !== name) throw new Error(`test wanted the ${name} backend, got ${report.got}`);
}

/**
 * What the webgpu tests in Node share: Dawn as navigator.gpu and the webgpu backend started before a describe
 * block's tests (failing without a Vulkan adapter unless PID_SKIP_WEBGPU_NODE=1 skips the block), and the relative
 * difference they compare webgpu's results to cpu's by.
 */
import { beforeAll, expect } from 'vitest';
import { startBackend } from '../../src/core/backend';
import { installNodeWebGpu } from '../../src/core/webgpu-node';

/** PID_SKIP_WEBGPU_NODE=1: no adapter here, skip the webgpu blocks (describe.skipIf(skipWebGpu)). */
export const skipWebGpu = process.env.PID_SKIP_WEBGPU_NODE === '1';

/** In a describe block: installs Dawn and starts the webgpu backend before its tests. */
export function useNodeWebGpu(): void {
  beforeAll(async () => {
    try {
      await installNodeWebGpu();
    } catch (e) {
      throw new Error(`${(e as Error).message}. Set PID_SKIP_WEBGPU_NODE=1 to skip these tests.`);
    }
    expect((await startBackend('webgpu')).got).toBe('webgpu');
  });
}

/** max |a - b| over max(1, max |b|). */
export function maxRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

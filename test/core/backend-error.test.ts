import { describe, expect, it } from 'vitest';
import { explainBackendError, isBackendDead } from '../../src/core/backend';
import { useBackend } from '../helpers/backend';

describe('explainBackendError', () => {
  it("says that wasm ran out of its memory and what to do, and passes other messages through", async () => {
    await useBackend('wasm');
    expect(explainBackendError('memory access out of bounds')).toMatch(/^the wasm backend ran out of memory \(memory access out of bounds; wasm has at most 4 GB.*use a smaller batch or micro-batch, or the webgpu backend$/);
    // a bare abort (EDM's ADM at batch 256 ended so) is said in the same words, without emscripten's build advice
    expect(explainBackendError('Aborted(). Build with -sASSERTIONS for more info.')).toMatch(/^the wasm backend ran out of memory \(Aborted\(\); wasm has at most 4 GB/);
    expect(isBackendDead('Aborted(). Build with -sASSERTIONS for more info.')).toBe(true);
    expect(explainBackendError('shapes do not match')).toBe('shapes do not match');
    expect(isBackendDead('shapes do not match')).toBe(false);
    await useBackend('cpu');
    expect(explainBackendError('memory access out of bounds')).toBe('memory access out of bounds'); // not a wasm heap there
    expect(isBackendDead('memory access out of bounds')).toBe(false);
  });
});

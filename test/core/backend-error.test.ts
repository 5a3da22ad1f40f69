import { describe, expect, it } from 'vitest';
import { explainBackendError } from '../../src/core/backend';
import { useBackend } from '../helpers/backend';

describe('explainBackendError', () => {
  it("says that wasm ran out of its memory and what to do, and passes other messages through", async () => {
    await useBackend('wasm');
    expect(explainBackendError('memory access out of bounds')).toMatch(/^the wasm backend ran out of memory \(memory access out of bounds; wasm has at most 4 GB.*use a smaller batch or network, or the webgpu backend$/);
    expect(explainBackendError('shapes do not match')).toBe('shapes do not match');
    await useBackend('cpu');
    expect(explainBackendError('memory access out of bounds')).toBe('memory access out of bounds'); // not a wasm heap there
  });
});

import { describe, it, expect } from 'vitest';
import { ModelFileError } from '../../src/formats/errors.ts';
import { readAnyModel } from '../../src/core/model-import.ts';
import { brokenModelFiles } from './broken-files.ts';

describe('brokenModelFiles', () => {
  const cases = brokenModelFiles();

  it('has distinct, file-system-safe names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(14);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const c of cases) expect(c.name).toMatch(/^[a-z0-9-]+\.safetensors$/);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s is refused with a one-line ModelFileError', async (_, c) => {
    const err = await readAnyModel([{ name: c.name, bytes: c.bytes }]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFileError);
    const msg = (err as Error).message;
    expect(msg).toMatch(c.expect);
    expect(msg.startsWith(`${c.name}: `)).toBe(true);
    expect(msg).not.toMatch(/[\r\n]/);
  });
});

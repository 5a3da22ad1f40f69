import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../src/ui/settings';
import { decodeUrlState, encodeUrlState } from '../../src/ui/url-state';

describe('URL state', () => {
  it('round-trips a whole run', () => {
    const settings = { ...defaultSettings(), lr: 1e-4, batch: 128, loss: 'l1' as const, steps: 700 };
    const q = encodeUrlState({ teacher: 'ring8', backend: 'wasm', settings });
    expect(q.startsWith('?teacher=ring8&backend=wasm&N=250&loss=l1')).toBe(true);
    expect(q).toContain('lr=1e-4');
    const back = decodeUrlState(q);
    expect(back).toEqual({ teacher: 'ring8', backend: 'wasm', settings, problems: [] });
  });

  it('leaves out what is default or unset', () => {
    expect(encodeUrlState({ teacher: null, backend: 'auto', settings: {} })).toBe('');
    expect(encodeUrlState({ settings: { batch: 32 } })).toBe('?batch=32');
  });

  it('reports, and ignores, parameters it cannot use', () => {
    const s = decodeUrlState('?lr=abc&N=1&backend=cuda&teacher=../x&foo=1&batch=64');
    expect(s.settings).toEqual({ batch: 64 });
    expect(s.teacher).toBeUndefined();
    expect(s.backend).toBeUndefined();
    expect(s.problems).toEqual([
      'URL parameter lr=abc ignored: Learning rate must be a number',
      'URL parameter N=1 ignored: Grid points N must be between 2 and 100000',
      'URL parameter backend=cuda ignored: must be one of auto, webgpu, webgl, wasm, cpu',
      'URL parameter teacher=../x ignored: not a built-in teacher id',
      'URL parameter foo ignored: not a setting of this page',
    ]);
  });

  it('carries the checkpoint interval (seconds) as a page option, within 1..3600', () => {
    expect(decodeUrlState('?checkpoint=5')).toMatchObject({ checkpointSeconds: 5, problems: [] });
    expect(encodeUrlState({ settings: {}, checkpointSeconds: 5 })).toBe('?checkpoint=5');
    for (const bad of ['0', '2.5', 'x', '', '3601']) {
      const s = decodeUrlState(`?checkpoint=${bad}`);
      expect(s.checkpointSeconds).toBeUndefined();
      expect(s.problems).toEqual([`URL parameter checkpoint=${bad} ignored: seconds between checkpoints must be a whole number from 1 to 3600`]);
    }
  });
});

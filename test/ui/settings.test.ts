import { describe, expect, it } from 'vitest';
import { SETTING_KEYS, crossCheck, defaultSettings, formatSetting, parseSetting, sizingFor } from '../../src/ui/settings';
import type { BackendInfo } from '../../src/worker/protocol';

const backend = (got: string, software = false): BackendInfo => ({
  asked: 'auto', got,
  adapter: got === 'webgpu' ? { vendor: 'v', architecture: 'a', device: '', description: '', isFallbackAdapter: software, software } : null,
});

describe('settings', () => {
  it('defaults are the Quick preset: N 250, RAdam, lr 1e-2 decaying to 1e-3, EMA 0.99, l2, EDM\'s 18 Heun steps', () => {
    expect(defaultSettings()).toMatchObject({ N: 250, optimizer: 'radam', lr: 1e-2, lrFinal: 1e-3, ema: 0.99, loss: 'l2', seed: 0, heunSteps: 18 });
    expect(Object.keys(defaultSettings()).sort()).toEqual([...SETTING_KEYS].sort());
  });

  it('sizes batch and steps by the backend that runs', () => {
    expect(sizingFor(backend('webgpu')).batch).toBeGreaterThan(sizingFor(backend('webgpu', true)).batch);
    expect(sizingFor(backend('webgpu', true))).toMatchObject({ batch: 32 });
    expect(sizingFor(backend('wasm')).batch).toBeGreaterThan(sizingFor(backend('cpu')).batch);
    expect(defaultSettings(backend('webgl'))).toMatchObject({ batch: 256, steps: 2000 });
    expect(sizingFor(null).why).toMatch(/not known/);
  });

  it('parses and validates each kind of field with an error that says what is allowed', () => {
    expect(parseSetting('N', '250')).toEqual({ ok: true, value: 250 });
    expect(parseSetting('N', '1')).toEqual({ ok: false, error: 'Grid points N must be between 2 and 100000' });
    expect(parseSetting('N', '2.5')).toEqual({ ok: false, error: 'Grid points N must be a whole number' });
    expect(parseSetting('batch', '')).toEqual({ ok: false, error: 'Batch must be a number' });
    expect(parseSetting('lr', '2e-4')).toEqual({ ok: true, value: 2e-4 });
    expect(parseSetting('lr', '0')).toEqual({ ok: false, error: 'Learning rate must be greater than 0 and at most 1' });
    expect(parseSetting('ema', '1')).toEqual({ ok: false, error: 'EMA rate must be at least 0 and less than 1' });
    expect(parseSetting('ema', '0')).toEqual({ ok: true, value: 0 });
    expect(parseSetting('loss', 'pseudo-huber')).toEqual({ ok: true, value: 'pseudo-huber' });
    expect(parseSetting('loss', 'lpips')).toEqual({ ok: false, error: 'Loss must be one of l2, l1, pseudo-huber' });
    expect(parseSetting('optimizer', ' adam ')).toEqual({ ok: true, value: 'adam' });
    expect(parseSetting('steps', 'Infinity')).toMatchObject({ ok: false });
  });

  it('formats the learning rate the way people write it', () => {
    expect(formatSetting('lr', 2e-4)).toBe('2e-4');
    expect(formatSetting('lr', 0.01)).toBe('0.01');
    expect(formatSetting('ema', 0.999)).toBe('0.999');
    expect(formatSetting('loss', 'l1')).toBe('l1');
    for (const v of [2e-4, 1.5e-5, 0.003]) expect(parseSetting('lr', formatSetting('lr', v))).toEqual({ ok: true, value: v });
  });

  it('warns when evaluations would be sparser than the run', () => {
    expect(crossCheck({ ...defaultSettings(), steps: 10, evalEvery: 50 })).toHaveLength(1);
    expect(crossCheck(defaultSettings())).toEqual([]);
  });
});

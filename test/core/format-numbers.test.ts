import { describe, expect, it } from 'vitest';
import { formatRelative } from '../../src/core/format-numbers';

describe('formatRelative', () => {
  it('prints a relative error as a percentage with one decimal', () => {
    expect(formatRelative(0.088)).toBe('8.8 %');
    expect(formatRelative(2.3)).toBe('230.0 %');
    expect(formatRelative(0.0123)).toBe('1.2 %');
    expect(formatRelative(0.01251)).toBe('1.3 %');
    expect(formatRelative(1)).toBe('100.0 %');
    expect(formatRelative(0)).toBe('0.0 %');
    expect(formatRelative(-1e-9)).toBe('0.0 %');
  });

  it('never prints a diverged run as a small number', () => {
    expect(formatRelative(NaN)).toBe('NaN %');
    expect(formatRelative(Infinity)).toBe('Infinity %');
  });
});

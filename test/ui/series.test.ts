import { describe, expect, it } from 'vitest';
import { formatDuration, formatNumber, sampleCount, smooth, thinIndices } from '../../src/ui/series';

describe('series', () => {
  it('smooths with bias correction, skipping non-finite values', () => {
    expect(smooth([4, 4, 4], 0.9)).toEqual([4, 4, 4].map((v) => expect.closeTo(v, 12)));
    const s = smooth([1, 3], 0.5);
    expect(s[0]).toBeCloseTo(1);
    expect(s[1]).toBeCloseTo((0.5 * 0.5 * 1 + 0.5 * 3) / (0.5 * 0.5 + 0.5));
    expect(smooth([NaN, 2], 0.9)).toEqual([NaN, 2]);
    expect(smooth([2, NaN, 2], 0.9)[1]).toBeCloseTo(2);
  });

  it('thins long series to at most max points, keeping ends and extremes', () => {
    expect(thinIndices([1, 2, 3], 10)).toEqual([0, 1, 2]);
    const values = Array.from({ length: 10_000 }, (_, i) => Math.sin(i / 50));
    values[5000] = 100;
    values[7000] = -100;
    const idx = thinIndices(values, 300);
    expect(idx.length).toBeLessThanOrEqual(300);
    expect(idx[0]).toBe(0);
    expect(idx.at(-1)).toBe(9999);
    expect(idx).toContain(5000);
    expect(idx).toContain(7000);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
  });

  it('formats durations and numbers', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(125)).toBe('2 min 05 s');
    expect(formatDuration(7260)).toBe('2 h 01 min');
    expect(formatNumber(0.123456)).toBe('0.123');
    expect(formatNumber(2e-5)).toBe('2.00e-5');
    expect(formatNumber(NaN)).toBe('—');
    expect(formatNumber(1234567)).toBe('1.23e+6');
  });

  it('counts samples by what they are', () => {
    expect(sampleCount(16, [14, 14, 1])).toBe('16 images');
    expect(sampleCount(512, [2])).toBe('512 points');
    expect(sampleCount(1, [8, 8, 3])).toBe('1 image');
    expect(sampleCount(4, [5])).toBe('4 samples');
  });
});

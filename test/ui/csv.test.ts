import { describe, expect, it } from 'vitest';
import { CSV_HEADER, lossCsv } from '../../src/ui/csv';

describe('loss CSV', () => {
  it('has one row per step plus the step-0 evaluation, with the trajectory error where measured', () => {
    const metrics = { step: [1, 2, 3], loss: [4, 2, 1], gradNorm: [1, 1, 1], stepMs: [10.12345, 11, 12], time: [10, 21, 33] };
    const e = (s: number, v: number) => ({ step: s, raw: { rmsePath: v, rmseEnd: v, relEnd: v }, ema: { rmsePath: v + 1, rmseEnd: v + 2, relEnd: v + 3 } });
    const csv = lossCsv(metrics, [e(0, 0.5), e(2, 0.25)], 0.5);
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe(CSV_HEADER.join(','));
    expect(lines).toHaveLength(5);
    expect(lines[1]).toBe('0,,,,,,1.5,2.5,3.5,0.5,0.5');
    expect(lines[2]).toBe('1,4,4,1,10.123,10,,,,,');
    const row2 = lines[3].split(',');
    expect(row2.slice(0, 2)).toEqual(['2', '2']);
    expect(Number(row2[2])).toBeCloseTo((0.5 * 0.5 * 4 + 0.5 * 2) / 0.75);
    expect(row2.slice(6)).toEqual(['1.25', '2.25', '3.25', '0.25', '0.25']);
    expect(csv.endsWith('\n')).toBe(true);
  });

  it('writes NaN losses as NaN (a diverged step is data too)', () => {
    const csv = lossCsv({ step: [1], loss: [NaN], gradNorm: [NaN], stepMs: [1], time: [1] }, [], 0.9);
    expect(csv.split('\n')[1]).toBe('1,NaN,NaN,NaN,1,1,,,,,');
  });
});

import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng';

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    expect(a.normals(10)).toEqual(b.normals(10));
    const saved = a.state();
    const next = a.normals(5);
    expect(new Rng(saved).normals(5)).toEqual(next);
    expect(new Rng(43).normals(3)).not.toEqual(new Rng(42).normals(3));
  });

  it('draws normals with mean 0 and variance 1, integers uniformly', () => {
    const r = new Rng(7);
    const n = 200_000;
    const xs = r.normals(n);
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 50_000; i++) counts[r.int(5)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });
});

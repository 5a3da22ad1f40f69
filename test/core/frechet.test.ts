import { describe, expect, it } from 'vitest';
import { fitGaussian, frechetDistance, symmetricEigen } from '../../src/core/frechet';
import { Rng } from '../../src/core/rng';

describe('Frechet distance', () => {
  it('diagonalises a symmetric matrix (A v = lambda v)', () => {
    const a = Float64Array.from([4, 1, 2, 1, 3, 0.5, 2, 0.5, 5]);
    const { values, vectors } = symmetricEigen(a, 3);
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 3; i++) {
        const av = a[i * 3] * vectors[k] + a[i * 3 + 1] * vectors[3 + k] + a[i * 3 + 2] * vectors[6 + k];
        expect(av).toBeCloseTo(values[k] * vectors[i * 3 + k], 10);
      }
    }
    expect([...values].reduce((s, v) => s + v, 0)).toBeCloseTo(12, 10); // trace
  });

  it('has the closed form for diagonal Gaussians: |mu1-mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2', () => {
    const p = { mean: Float64Array.from([0, 1, 2]), cov: Float64Array.from([1, 0, 0, 0, 4, 0, 0, 0, 9]), d: 3 };
    const q = { mean: Float64Array.from([1, 1, 0]), cov: Float64Array.from([4, 0, 0, 0, 4, 0, 0, 0, 1]), d: 3 };
    expect(frechetDistance(p, q)).toBeCloseTo(1 + 4 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2, 9);
    expect(frechetDistance(p, p)).toBeCloseTo(0, 9);
  });

  it('is symmetric, and near 0 for two samples of one distribution but not of two', () => {
    const rng = new Rng(1);
    const d = 8;
    const draw = (n: number, shift: number) => {
      const x = new Float64Array(n * d);
      for (let i = 0; i < n; i++) {
        const common = rng.normal();
        for (let j = 0; j < d; j++) x[i * d + j] = common * 0.7 + rng.normal() * (1 + j / 8) + shift;
      }
      return fitGaussian(x, n, d);
    };
    const [a, b, c] = [draw(20000, 0), draw(20000, 0), draw(20000, 0.5)];
    expect(frechetDistance(a, b)).toBeLessThan(0.02);
    expect(frechetDistance(a, c)).toBeGreaterThan(1.5); // 8 * 0.5^2 = 2 from the means alone
    expect(frechetDistance(a, c)).toBeCloseTo(frechetDistance(c, a), 8);
  });
});

/**
 * Frechet distance between two Gaussians fitted to feature sets (the FID formula, Heusel et al. 2017):
 *   FD = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)),
 * with Tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(S1^(1/2) S2 S1^(1/2))), all symmetric, so Jacobi's eigenvalue method
 * suffices. Plain float64 TypeScript: the feature dimension is small (tens to a few hundred).
 */

export interface GaussianFit {
  mean: Float64Array;
  /** Row-major d x d covariance (unbiased). */
  cov: Float64Array;
  d: number;
}

/** Mean and covariance of n feature rows of dimension d (row-major). */
export function fitGaussian(features: ArrayLike<number>, n: number, d: number): GaussianFit {
  if (n < 2) throw new Error(`a covariance needs at least 2 samples (got ${n})`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += features[i * d + j] / n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = features[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[a * d + b] += (row[a] * row[b]) / (n - 1);
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) cov[a * d + b] = cov[b * d + a];
  return { mean, cov, d };
}

/** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: values and row-major eigenvectors (columns). */
export function symmetricEigen(matrix: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i];
  return { values, vectors: v };
}

/** Square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues clamped to 0). */
function sqrtPsd(m: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(values[k], 0));
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j] += vectors[i * d + k] * s * vectors[j * d + k];
  }
  return out;
}

function matMul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
    const aik = a[i * d + k];
    for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
  }
  return out;
}

export function frechetDistance(p: GaussianFit, q: GaussianFit): number {
  const d = p.d;
  if (q.d !== d) throw new Error(`feature dimensions differ: ${p.d} vs ${q.d}`);
  let meanTerm = 0;
  let trace = 0;
  for (let i = 0; i < d; i++) {
    meanTerm += (p.mean[i] - q.mean[i]) ** 2;
    trace += p.cov[i * d + i] + q.cov[i * d + i];
  }
  const r = sqrtPsd(p.cov, d);
  const inner = matMul(matMul(r, q.cov, d), r, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) inner[i * d + j] = inner[j * d + i] = (inner[i * d + j] + inner[j * d + i]) / 2;
  const { values } = symmetricEigen(inner, d);
  const crossTrace = values.reduce((s, v) => s + Math.sqrt(Math.max(v, 0)), 0);
  return Math.max(0, meanTerm + trace - 2 * crossTrace);
}

/** What the live panel computes from the metric stream: smoothing, thinning for the charts, and labels (pace.ts: speed and ETA). */
import { viewKindOf } from '../worker/protocol';

/**
 * Exponential smoothing with bias correction (TensorBoard's "smoothing"): s_i = sum_j w^(i-j) (1-w) y_j / (1 - w^(i+1)).
 * Non-finite values are skipped (they keep the previous smoothed value).
 */
export function smooth(values: ArrayLike<number>, weight: number): number[] {
  const out = new Array<number>(values.length);
  let acc = 0;
  let norm = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      acc = acc * weight + (1 - weight) * v;
      norm = norm * weight + (1 - weight);
    }
    out[i] = norm > 0 ? acc / norm : NaN;
  }
  return out;
}

/**
 * Indices to draw at most `max` points of a long series: evenly strided, always keeping the first and the last,
 * plus in each stride the minimum and the maximum of `values` (so spikes survive thinning).
 */
export function thinIndices(values: ArrayLike<number>, max: number): number[] {
  const n = values.length;
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const buckets = Math.max(1, Math.floor((max - 2) / 2));
  const size = (n - 2) / buckets;
  const out = [0];
  for (let b = 0; b < buckets; b++) {
    const lo = 1 + Math.floor(b * size);
    const hi = Math.min(n - 1, 1 + Math.floor((b + 1) * size));
    let iMin = -1;
    let iMax = -1;
    for (let i = lo; i < hi; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      if (iMin < 0 || v < values[iMin]) iMin = i;
      if (iMax < 0 || v > values[iMax]) iMax = i;
    }
    if (iMin >= 0 && iMax >= 0) out.push(...(iMin < iMax ? [iMin, iMax] : iMin > iMax ? [iMax, iMin] : [iMin]));
  }
  out.push(n - 1);
  return out;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A number for a label: 3 significant digits, exponent form for very small or large values. */
export function formatNumber(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

/** Bytes for a label: B, kB, MB, GB (powers of 1000), 3 significant digits. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  const units = ['B', 'kB', 'MB', 'GB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? Math.round(v) : Number(v.toPrecision(3))} ${units[u]}`;
}

/** "12 s ago", "3 min ago" from two Date.now() values. */
export function formatAgo(then: number, now: number): string {
  const s = Math.max(0, (now - then) / 1000);
  if (s < 1) return 'just now';
  return `${formatDuration(s)} ago`;
}

/** "16 images", "512 points": a count of samples of this data shape. */
export function sampleCount(count: number, dataShape: number[]): string {
  const kind = viewKindOf(dataShape).kind;
  const noun = kind === 'images' ? 'image' : kind === 'points2d' ? 'point' : 'sample';
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

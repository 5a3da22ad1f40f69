/** Plot geometry for the sample view, free of the DOM: scales, ticks, bounds, trajectory and pixel transforms. */

export interface Range { lo: number; hi: number }
export interface Rect { x: number; y: number; w: number; h: number }

/** Maps [lo, hi] onto [a, b] (linear). */
export function linearScale(d: Range, a: number, b: number): (v: number) => number {
  const k = d.hi === d.lo ? 0 : (b - a) / (d.hi - d.lo);
  return (v) => a + (v - d.lo) * k;
}

/** Maps [lo, hi] (both > 0) onto [a, b] on a log scale. */
export function logScale(d: Range, a: number, b: number): (v: number) => number {
  const l0 = Math.log(d.lo);
  const l1 = Math.log(d.hi);
  const k = l1 === l0 ? 0 : (b - a) / (l1 - l0);
  return (v) => a + (Math.log(v) - l0) * k;
}

/** About `count` round tick values (1, 2, 5 x 10^k steps) inside [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi <= lo) return [];
  const span = hi - lo;
  const mag = 10 ** Math.floor(Math.log10(span / Math.max(1, count)));
  // the finest round step that gives at most count + 1 intervals
  const step = [1, 2, 5, 10, 20].map((m) => m * mag).find((s) => span / s <= count + 1) ?? 50 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

/** The data range, widened by `pad` of its span on each side. */
export function padRange(r: Range, pad: number): Range {
  const span = r.hi - r.lo || 1;
  return { lo: r.lo - span * pad, hi: r.hi + span * pad };
}

/** Range of the finite values; `fallback` when there are none. */
export function extent(values: ArrayLike<number>, fallback: Range = { lo: -1, hi: 1 }): Range {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? { lo, hi } : fallback;
}

/** How many 2D points (flat [n, 2]) fall outside a square view, or are not finite. */
export function countOutside(points: ArrayLike<number>, view: Range): number {
  let n = 0;
  for (let i = 0; i + 1 < points.length; i += 2) {
    const x = points[i];
    const y = points[i + 1];
    if (!(x >= view.lo && x <= view.hi && y >= view.lo && y <= view.hi)) n++;
  }
  return n;
}

/**
 * One coordinate of stacked paths [times, paths, D], scaled to x_i(t) / sqrt(sigma_data^2 + t^2): at t = T that is
 * about z_i / T ~ N(0, 1), at t -> 0 the data over sigma_data, so the whole path fits one axis. Returns [path][time].
 */
export function scaledPaths(paths: ArrayLike<number>, times: number[], pathCount: number, dim: number, coord: number, sigmaData: number): number[][] {
  const out: number[][] = Array.from({ length: pathCount }, () => new Array<number>(times.length));
  for (let ti = 0; ti < times.length; ti++) {
    const s = 1 / Math.sqrt(sigmaData * sigmaData + times[ti] * times[ti]);
    for (let p = 0; p < pathCount; p++) out[p][ti] = paths[(ti * pathCount + p) * dim + coord] * s;
  }
  return out;
}

/** Pixel bytes (0..255) for one value of an image in data range [lo, hi], clipped. */
export function toByte(v: number, range: [number, number]): number {
  const u = (v - range[0]) / (range[1] - range[0]);
  if (!Number.isFinite(u)) return 0;
  return Math.round(Math.min(1, Math.max(0, u)) * 255);
}

/** Columns and rows of a near-square grid for n tiles. */
export function gridShape(n: number): { cols: number; rows: number } {
  const cols = Math.max(1, Math.ceil(Math.sqrt(n)));
  return { cols, rows: Math.max(1, Math.ceil(n / cols)) };
}

/** Splits a rectangle into `n` panels side by side, with a gap. */
export function splitColumns(r: Rect, n: number, gap: number): Rect[] {
  const w = (r.w - gap * (n - 1)) / n;
  return Array.from({ length: n }, (_, i) => ({ x: r.x + i * (w + gap), y: r.y, w, h: r.h }));
}

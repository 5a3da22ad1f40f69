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

/**
 * Ticks of a log axis inside [lo, hi] (never outside, where a chart would draw them over the other axis): powers of
 * ten, every other one past six decades; 1-2-5 steps when fewer than two powers fall inside; 1..9 steps when even
 * those give fewer than two. `clearBottom` drops ticks within that fraction of the axis from `lo`, so the lowest label
 * does not sit on the x axis and its labels (kept when it would leave fewer than two).
 */
export function logTicks(lo: number, hi: number, clearBottom = 0): number[] {
  if (!(lo > 0) || !(hi > lo) || !Number.isFinite(hi)) return [];
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  const inside = (v: number) => v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12);
  const round = (v: number) => Number(v.toPrecision(12));
  const multiples = (ms: number[]) => {
    const out: number[] = [];
    for (let e = Math.floor(l0); e <= Math.ceil(l1); e++) for (const m of ms) if (inside(m * 10 ** e)) out.push(round(m * 10 ** e));
    return out;
  };
  let ticks = multiples([1]);
  if (ticks.length > 6) {
    const stride = Math.ceil(ticks.length / 6);
    ticks = ticks.filter((_, i) => i % stride === 0);
  }
  if (ticks.length < 2) ticks = multiples([1, 2, 5]);
  if (ticks.length < 2) ticks = multiples([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const cleared = ticks.filter((v) => (Math.log10(v) - l0) / (l1 - l0) >= clearBottom);
  return cleared.length >= 2 ? cleared : ticks;
}

/** Round ticks of a linear axis from 0 (a step count) to `max`: 0, 250, 500 rather than 1, 251, 501. */
export function stepTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0];
  return niceTicks(0, max, count).filter((v) => Number.isInteger(v));
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

/** Where the panels of the sample view go on a canvas `width` CSS pixels wide: side by side when they fit, else stacked. */
export interface SceneLayout { width: number; height: number; panels: Rect[]; caption: Rect | null }

export const SCENE_PAD = 8;
const SCENE_GAP = 16;
const MIN_PANEL_WIDTH = 260;

export function sceneLayout(width: number, panelCount: number, captionHeight: number): SceneLayout {
  const inner = Math.max(1, width - 2 * SCENE_PAD);
  const n = Math.max(1, panelCount);
  const cols = Math.max(1, Math.min(n, Math.floor((inner + SCENE_GAP) / (MIN_PANEL_WIDTH + SCENE_GAP))));
  const rows = Math.ceil(n / cols);
  const w = (inner - SCENE_GAP * (cols - 1)) / cols;
  // a square plot area plus the panel's title lines and tick labels
  const h = Math.round(Math.min(440, Math.max(240, w + 24)));
  const panels = Array.from({ length: n }, (_, i) => ({
    x: SCENE_PAD + (i % cols) * (w + SCENE_GAP), y: SCENE_PAD + Math.floor(i / cols) * (h + SCENE_GAP), w, h,
  }));
  const bodyBottom = SCENE_PAD + rows * h + (rows - 1) * SCENE_GAP;
  const caption = captionHeight > 0 ? { x: SCENE_PAD, y: bodyBottom + 4, w: inner, h: captionHeight } : null;
  return { width, height: Math.ceil(bodyBottom + (caption ? captionHeight + 4 : 0) + SCENE_PAD), panels, caption };
}

/** Greedy word wrap of `text` into lines no wider than `maxWidth` by `measure` (a word longer than a line stays whole). */
export function wrapText(text: string, maxWidth: number, measure: (s: string) => number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (line && measure(next) > maxWidth) {
      lines.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  return lines;
}

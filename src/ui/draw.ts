/**
 * Draws a Scene (scene.ts) onto a 2D canvas context: scatter panels, trajectory panels, image grids, messages. One
 * unit is one CSS pixel (the caller scales the context by devicePixelRatio), so 12 px text is 12 px on the screen.
 */
import { type Rect, type SceneLayout, gridShape, linearScale, logScale, niceTicks, sceneLayout, toByte, wrapText } from './plot';
import type { Panel, Scene } from './scene';
import { PATH_COLORS, TEACHER_COLOR } from './scene';
import { formatNumber } from './series';

const FONT_PX = 12;
const FONT = `${FONT_PX}px system-ui, -apple-system, "Segoe UI", sans-serif`;
const TITLE_FONT = '600 13px system-ui, -apple-system, "Segoe UI", sans-serif';
const INK = '#1d2733';
const MUTED = '#5b6776';
const GRID = '#e3e8ee';

const CAPTION_LINE = 15;

/** The layout of `scene` on a canvas `width` CSS pixels wide (the caption wrapped as `ctx` measures it). */
export function layoutScene(ctx: CanvasRenderingContext2D, width: number, scene: Scene): SceneLayout & { captionLines: string[] } {
  ctx.save();
  ctx.font = FONT;
  const lines = scene.caption ? wrapText(scene.caption, Math.max(40, width - 16), (t) => ctx.measureText(t).width) : [];
  ctx.restore();
  return { ...sceneLayout(width, scene.panels.length, lines.length * CAPTION_LINE), captionLines: lines };
}

export function drawScene(ctx: CanvasRenderingContext2D, layout: SceneLayout & { captionLines: string[] }, scene: Scene): void {
  ctx.save();
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, layout.width, layout.height);
  scene.panels.forEach((p, i) => drawPanel(ctx, layout.panels[i], p));
  if (layout.caption) {
    ctx.font = FONT;
    ctx.fillStyle = MUTED;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    layout.captionLines.forEach((line, i) => ctx.fillText(line, layout.width / 2, layout.caption!.y + i * CAPTION_LINE));
  }
  ctx.restore();
}

function drawPanel(ctx: CanvasRenderingContext2D, r: Rect, p: Panel): void {
  ctx.save();
  ctx.font = TITLE_FONT;
  ctx.fillStyle = INK;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(p.title, r.x, r.y, r.w);
  const sub = p.kind === 'message' ? '' : p.subtitle;
  ctx.font = FONT;
  ctx.fillStyle = MUTED;
  if (sub) ctx.fillText(sub, r.x, r.y + 17, r.w);
  const body: Rect = { x: r.x, y: r.y + 38, w: r.w, h: r.h - 38 };
  switch (p.kind) {
    case 'scatter': drawScatter(ctx, body, p); break;
    case 'paths': drawPaths(ctx, body, p); break;
    case 'images': drawImages(ctx, body, p); break;
    case 'message':
      ctx.strokeStyle = GRID;
      ctx.strokeRect(body.x + 0.5, body.y + 0.5, body.w - 1, body.h - 1);
      ctx.fillStyle = MUTED;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(p.text, body.x + body.w / 2, body.y + body.h / 2, body.w - 16);
      break;
  }
  ctx.restore();
}

/** A square plot area inside `r`, leaving room for tick labels. */
function plotArea(r: Rect, square: boolean): Rect {
  const left = 40;
  const bottom = 22;
  const w = r.w - left - 6;
  const h = r.h - bottom - 4;
  if (!square) return { x: r.x + left, y: r.y + 2, w, h };
  const s = Math.max(10, Math.min(w, h));
  return { x: r.x + left, y: r.y + 2, w: s, h: s };
}

/**
 * Grid lines and tick labels. A label that would overlap the one before it is left out (its grid line stays), and
 * so is a y label whose text would reach down onto the x axis and its labels.
 */
export function axes(
  ctx: CanvasRenderingContext2D, a: Rect, xTicks: number[], sx: (v: number) => number, yTicks: number[], sy: (v: number) => number,
  fmtX = (v: number) => formatNumber(v, 2), fmtY = (v: number) => formatNumber(v, 2),
): void {
  ctx.strokeStyle = GRID;
  ctx.lineWidth = 1;
  ctx.font = FONT;
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  let lastRight = -Infinity;
  for (const t of [...xTicks].sort((p, q) => sx(p) - sx(q))) {
    const x = Math.round(sx(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, a.y); ctx.lineTo(x, a.y + a.h); ctx.stroke();
    const label = fmtX(t);
    const half = ctx.measureText(label).width / 2;
    if (x - half < lastRight + 6) continue;
    ctx.fillText(label, x, a.y + a.h + 4);
    lastRight = x + half;
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const half = FONT_PX / 2 + 1;
  let lastTop = Infinity;
  for (const t of [...yTicks].sort((p, q) => sy(q) - sy(p))) {
    const y = Math.round(sy(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(a.x, y); ctx.lineTo(a.x + a.w, y); ctx.stroke();
    if (y + half > a.y + a.h - 2 || y + half > lastTop - 2) continue;
    ctx.fillText(fmtY(t), a.x - 5, y);
    lastTop = y - half;
  }
  ctx.strokeStyle = '#b8c2cc';
  ctx.strokeRect(a.x + 0.5, a.y + 0.5, a.w - 1, a.h - 1);
}

function drawScatter(ctx: CanvasRenderingContext2D, r: Rect, p: Extract<Panel, { kind: 'scatter' }>): void {
  const a = plotArea(r, true);
  const sx = linearScale(p.view, a.x, a.x + a.w);
  const sy = linearScale(p.view, a.y + a.h, a.y);
  const ticks = niceTicks(p.view.lo, p.view.hi, 4);
  axes(ctx, a, ticks, sx, ticks, sy);
  ctx.save();
  ctx.beginPath();
  ctx.rect(a.x, a.y, a.w, a.h);
  ctx.clip();
  for (const layer of p.layers) {
    ctx.globalAlpha = layer.alpha;
    ctx.fillStyle = layer.color;
    const pts = layer.points;
    for (let i = 0; i + 1 < pts.length; i += 2) {
      if (!Number.isFinite(pts[i]) || !Number.isFinite(pts[i + 1])) continue;
      ctx.beginPath();
      ctx.arc(sx(pts[i]), sy(pts[i + 1]), layer.radius, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  ctx.restore();
  // legend
  ctx.font = FONT;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  let ly = a.y + 10;
  for (const layer of p.layers) {
    ctx.fillStyle = layer.color;
    ctx.beginPath(); ctx.arc(a.x + 10, ly, 3.5, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = INK;
    ctx.fillText(layer.label, a.x + 18, ly);
    ly += 15;
  }
  if (p.outside > 0) {
    ctx.fillStyle = '#b03a2e';
    ctx.textAlign = 'right';
    ctx.fillText(`${p.outside} outside the view`, a.x + a.w - 6, a.y + a.h - 10);
  }
}

function drawPaths(ctx: CanvasRenderingContext2D, r: Rect, p: Extract<Panel, { kind: 'paths' }>): void {
  const a = plotArea(r, false);
  const tMax = p.times[0];
  const tMin = p.times[p.times.length - 1];
  // Time runs left to right from sigma_max down to sigma_min, on a log axis.
  const sx = logScale({ lo: tMax, hi: tMin }, a.x, a.x + a.w);
  const sy = linearScale(p.yRange, a.y + a.h, a.y);
  const xTicks: number[] = [];
  for (let e = Math.ceil(Math.log10(tMin)); e <= Math.floor(Math.log10(tMax)); e++) xTicks.push(10 ** e);
  axes(ctx, a, xTicks, sx, niceTicks(p.yRange.lo, p.yRange.hi, 4), sy, (v) => (v >= 1 ? String(v) : String(Number(v.toPrecision(1)))));
  ctx.save();
  ctx.beginPath();
  ctx.rect(a.x, a.y, a.w, a.h);
  ctx.clip();
  const line = (ys: number[], color: string, width: number, dash: number[]) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
    ctx.beginPath();
    let started = false;
    ys.forEach((y, i) => {
      if (!Number.isFinite(y)) { started = false; return; }
      const X = sx(p.times[i]);
      const Y = sy(y);
      if (started) ctx.lineTo(X, Y); else { ctx.moveTo(X, Y); started = true; }
    });
    ctx.stroke();
  };
  p.teacher.forEach((ys) => line(ys, '#39424e', 1.4, [5, 4]));
  p.student?.forEach((ys, i) => line(ys, PATH_COLORS[i % PATH_COLORS.length], 1.8, []));
  ctx.restore();
  ctx.setLineDash([]);
  ctx.font = FONT;
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'bottom';
  ctx.fillText('t (log scale, σ_max → σ_min)', a.x + a.w, a.y + a.h - 3);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(p.yLabel, a.x + 6, a.y + 4);
  if (!p.student) {
    ctx.fillStyle = TEACHER_COLOR;
    ctx.fillText('student paths appear once a run starts', a.x + 6, a.y + 20);
  }
}

/** The font size of the class written in a grid cell `cell` CSS px wide; null when the cell is too small to hold it. */
export function cellLabelPx(cell: number): number | null {
  const px = Math.min(11, Math.floor(cell * 0.3));
  return px >= 8 ? px : null;
}

function drawImages(ctx: CanvasRenderingContext2D, r: Rect, p: Extract<Panel, { kind: 'images' }>): void {
  const { cols, rows } = gridShape(p.count);
  const gap = 2;
  const cell = Math.max(1, Math.floor(Math.min((r.w - gap * (cols - 1)) / cols, (r.h - gap * (rows - 1)) / rows)));
  const px = cell / Math.max(p.width, p.height);
  const size = p.height * p.width * p.channels;
  for (let k = 0; k < p.count; k++) {
    const ox = r.x + (k % cols) * (cell + gap);
    const oy = r.y + Math.floor(k / cols) * (cell + gap);
    for (let i = 0; i < p.height; i++) {
      for (let j = 0; j < p.width; j++) {
        const base = k * size + (i * p.width + j) * p.channels;
        const rr = toByte(p.images[base], p.range);
        const gg = p.channels === 3 ? toByte(p.images[base + 1], p.range) : rr;
        const bb = p.channels === 3 ? toByte(p.images[base + 2], p.range) : rr;
        ctx.fillStyle = `rgb(${rr},${gg},${bb})`;
        ctx.fillRect(ox + j * px, oy + i * px, Math.ceil(px), Math.ceil(px));
      }
    }
  }
  const labelPx = p.classes ? cellLabelPx(cell) : null;
  if (!p.classes || labelPx === null) return;
  // The class in each cell's top-left corner, dark on a light patch so it reads on any image.
  ctx.font = `600 ${labelPx}px system-ui, -apple-system, "Segoe UI", sans-serif`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  for (let k = 0; k < p.count; k++) {
    const text = String(p.classes[k]);
    const ox = r.x + (k % cols) * (cell + gap);
    const oy = r.y + Math.floor(k / cols) * (cell + gap);
    ctx.fillStyle = 'rgba(255, 255, 255, 0.8)';
    ctx.fillRect(ox, oy, Math.ceil(ctx.measureText(text).width) + 4, labelPx + 3);
    ctx.fillStyle = INK;
    ctx.fillText(text, ox + 2, oy + 2);
  }
}

/**
 * Draws a SweepChart (sweep-plot.ts) on a 2D canvas: one unit per CSS pixel (the caller scales by devicePixelRatio),
 * two panels side by side when they fit, else stacked; each with its axes, series and legend.
 */
import { axes } from './draw';
import type { Rect } from './plot';
import { splitColumns } from './plot';
import { type SweepChart, type SweepPanelPlot, axisScale } from './sweep-plot';

const FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
const TITLE_FONT = '600 13px system-ui, -apple-system, "Segoe UI", sans-serif';
const INK = '#1d2733';
const MUTED = '#5b6776';
const PANEL_HEIGHT = 280;
const MIN_PANEL_WIDTH = 300;
const GAP = 20;
const PAD = 8;

/** The panels' rectangles and the canvas height for a canvas `width` CSS pixels wide. */
export function sweepLayout(width: number, panels: number): { height: number; rects: Rect[] } {
  const inner = Math.max(1, width - 2 * PAD);
  const side = inner >= panels * MIN_PANEL_WIDTH + (panels - 1) * GAP;
  if (side) return { height: PANEL_HEIGHT + 2 * PAD, rects: splitColumns({ x: PAD, y: PAD, w: inner, h: PANEL_HEIGHT }, panels, GAP) };
  const rects = Array.from({ length: panels }, (_, i) => ({ x: PAD, y: PAD + i * (PANEL_HEIGHT + GAP), w: inner, h: PANEL_HEIGHT }));
  return { height: panels * PANEL_HEIGHT + (panels - 1) * GAP + 2 * PAD, rects };
}

export function drawSweepChart(ctx: CanvasRenderingContext2D, width: number, chart: SweepChart): void {
  const { height, rects } = sweepLayout(width, chart.panels.length);
  ctx.save();
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  const legendRows = Math.max(...chart.panels.map((p) => p.series.length)); // the same plot height in every panel
  chart.panels.forEach((p, i) => drawPanel(ctx, rects[i], chart, p, legendRows));
  ctx.restore();
}

function drawPanel(ctx: CanvasRenderingContext2D, r: Rect, chart: SweepChart, p: SweepPanelPlot, legendRows: number): void {
  ctx.save();
  ctx.font = TITLE_FONT;
  ctx.fillStyle = INK;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(p.title, r.x, r.y, r.w);
  const legendH = 16 * legendRows;
  const a: Rect = { x: r.x + 58, y: r.y + 24, w: r.w - 66, h: r.h - 24 - 40 - legendH };
  const sx = axisScale(chart.x, a.x, a.x + a.w);
  const sy = axisScale(p.y, a.y + a.h, a.y);
  axes(ctx, a, chart.x.ticks, sx, p.y.ticks, sy, chart.x.label, p.y.label);
  ctx.font = FONT;
  ctx.fillStyle = MUTED;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillText(`${chart.xTitle}${chart.x.kind === 'log' ? ' (log scale)' : ''}`, a.x + a.w / 2, a.y + a.h + 20);
  ctx.save();
  ctx.beginPath();
  ctx.rect(a.x, a.y, a.w, a.h);
  ctx.clip();
  for (const s of p.series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [6, 4] : []);
    ctx.beginPath();
    s.points.forEach((q, i) => (i === 0 ? ctx.moveTo(sx(q.x), sy(q.y)) : ctx.lineTo(sx(q.x), sy(q.y))));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const q of s.points) {
      ctx.beginPath();
      ctx.arc(sx(q.x), sy(q.y), 3.5, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  ctx.restore();
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  p.series.forEach((s, i) => {
    const y = a.y + a.h + 48 + i * 16;
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [6, 4] : []);
    ctx.beginPath(); ctx.moveTo(a.x, y); ctx.lineTo(a.x + 22, y); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = INK;
    ctx.fillText(s.name, a.x + 28, y, a.w - 28);
  });
  ctx.restore();
}

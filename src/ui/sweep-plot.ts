/**
 * The sweep chart's geometry, free of the DOM: the x axis of the swept setting (log when its values are positive
 * and span a decade or more, categories for a choice), log y axes for the errors, and the series of each panel.
 */
import type { SweepRow } from '../core/sweep';
import type { RunSettingSpec } from '../formats/run-settings';
import { type Range, extent, linearScale, logScale, logTicks, niceTicks, padRange } from './plot';
import { formatNumber } from './series';

export interface SweepAxis {
  kind: 'log' | 'linear' | 'category';
  domain: Range;
  ticks: number[];
  label(v: number): string;
}

export interface SweepSeries {
  name: string;
  color: string;
  dashed: boolean;
  /** x in axis units (a category's index), y > 0 for a log axis. */
  points: { x: number; y: number }[];
}

export interface SweepPanelPlot {
  title: string;
  y: SweepAxis;
  series: SweepSeries[];
}

export interface SweepChart {
  x: SweepAxis;
  xTitle: string;
  panels: SweepPanelPlot[];
}

export const STUDENT_COLOR = '#e0672a';
export const EULER_COLOR = '#3b6fb6';
export const PATH_COLOR = '#2f855a';

/** At most this many swept values are ticked each; more get round ticks. */
const MAX_VALUE_TICKS = 8;

/** The x axis of a sweep over `values` of the setting `spec`. */
export function sweepXAxis(spec: RunSettingSpec, values: (number | string)[]): SweepAxis {
  if (spec.kind === 'choice') {
    const names = values.map(String);
    return { kind: 'category', domain: { lo: -0.5, hi: Math.max(0.5, names.length - 0.5) }, ticks: names.map((_, i) => i), label: (v) => names[Math.round(v)] ?? '' };
  }
  const nums = values.map(Number).filter(Number.isFinite);
  const r = extent(nums, { lo: 0, hi: 1 });
  const label = (v: number) => formatNumber(v, 3);
  if (r.lo > 0 && r.hi / r.lo >= 10) {
    const pad = (r.hi / r.lo) ** 0.06;
    const domain = { lo: r.lo / pad, hi: r.hi * pad };
    return { kind: 'log', domain, ticks: nums.length <= MAX_VALUE_TICKS ? [...nums].sort((a, b) => a - b) : logTicks(domain.lo, domain.hi), label };
  }
  const domain = r.hi > r.lo ? padRange(r, 0.08) : { lo: r.lo - Math.max(1e-9, Math.abs(r.lo) * 0.1 || 1), hi: r.hi + Math.max(1e-9, Math.abs(r.hi) * 0.1 || 1) };
  return { kind: 'linear', domain, ticks: nums.length <= MAX_VALUE_TICKS ? [...nums].sort((a, b) => a - b) : niceTicks(domain.lo, domain.hi), label };
}

/** A log y axis around the positive values (a factor of 1.4 of room each side), or null when there are none. */
export function sweepYAxis(values: number[], percent: boolean): SweepAxis | null {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (pos.length === 0) return null;
  const lo = Math.min(...pos) / 1.4;
  const hi = Math.max(...pos) * 1.4;
  const round = logTicks(lo, hi, 0.04);
  // a span under a factor of 3 may hold one round tick or none: then the extremes, to 2 digits, are the ticks
  const ticks = round.length >= 2 ? round : [...new Set([Math.min(...pos), Math.max(...pos)].map((v) => Number(v.toPrecision(2))))];
  return {
    kind: 'log', domain: { lo, hi }, ticks,
    label: percent ? (v) => `${formatNumber(v * 100, 2)} %` : (v) => formatNumber(v, 2),
  };
}

/** The axis's map from a value to pixels between a and b. */
export function axisScale(axis: SweepAxis, a: number, b: number): (v: number) => number {
  return axis.kind === 'log' ? logScale(axis.domain, a, b) : linearScale(axis.domain, a, b);
}

/** Where a row sits on the x axis: its value, or its index among the categories. */
function xOf(axis: SweepAxis, values: (number | string)[], v: number | string): number {
  return axis.kind === 'category' ? values.indexOf(v) : Number(v);
}

/**
 * Two panels: the one-step error relative to the teacher's ODE (with the grid's Euler error, the optimum PID
 * converges to, for analytic teachers) and the whole-trajectory RMSE. Rows are drawn in the order of the values.
 */
export function sweepChart(spec: RunSettingSpec, values: (number | string)[], rows: SweepRow[], analytic: boolean): SweepChart {
  const x = sweepXAxis(spec, values);
  const ordered = [...rows].sort((p, q) => xOf(x, values, p.value) - xOf(x, values, q.value));
  const series = (name: string, color: string, dashed: boolean, y: (r: SweepRow) => number | undefined): SweepSeries => ({
    name, color, dashed,
    points: ordered.flatMap((r) => {
      const v = y(r);
      return v !== undefined && v > 0 && Number.isFinite(v) ? [{ x: xOf(x, values, r.value), y: v }] : [];
    }),
  });
  const oneStep = [series('student, one step', STUDENT_COLOR, false, (r) => r.oneStepRelative)];
  if (analytic) oneStep.push(series("Euler on the run's N grid (PID's optimum)", EULER_COLOR, true, (r) => r.gridEulerRelative));
  const path = [series('student, whole path', PATH_COLOR, false, (r) => r.trajectoryRmse)];
  const yFor = (s: SweepSeries[], percent: boolean): SweepAxis => sweepYAxis(s.flatMap((q) => q.points.map((p) => p.y)), percent)
    ?? { kind: 'log', domain: { lo: 1e-3, hi: 1 }, ticks: [1e-3, 1e-2, 1e-1, 1], label: (v) => formatNumber(v, 2) };
  return {
    x,
    xTitle: spec.label,
    panels: [
      { title: "One-step error, relative to the teacher's ODE", y: yFor(oneStep, true), series: oneStep },
      { title: 'Whole-trajectory RMSE', y: yFor(path, false), series: path },
    ],
  };
}

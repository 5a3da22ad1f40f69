import { describe, expect, it } from 'vitest';
import {
  countOutside, extent, gridShape, linearScale, logScale, logTicks, niceTicks, padRange, sceneLayout, scaledPaths, splitColumns, stepTicks, toByte, wrapText,
} from '../../src/ui/plot';
import { buildScene } from '../../src/ui/scene';
import type { StudentView, TeacherView } from '../../src/worker/protocol';

describe('plot geometry', () => {
  it('scales and ticks', () => {
    const s = linearScale({ lo: -1, hi: 1 }, 0, 100);
    expect([s(-1), s(0), s(1)]).toEqual([0, 50, 100]);
    const l = logScale({ lo: 80, hi: 0.002 }, 0, 100);
    expect(l(80)).toBeCloseTo(0);
    expect(l(0.002)).toBeCloseTo(100);
    expect(l(Math.sqrt(80 * 0.002))).toBeCloseTo(50);
    expect(niceTicks(-1.15, 1.15, 4)).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(1, 1)).toEqual([]);
    expect(padRange({ lo: -1, hi: 1 }, 0.1)).toEqual({ lo: -1.2, hi: 1.2 });
    expect(extent([3, NaN, -2, Infinity])).toEqual({ lo: -2, hi: 3 });
    expect(extent([])).toEqual({ lo: -1, hi: 1 });
  });

  it('log ticks: inside the domain only, round, clear of the x axis', () => {
    // the old ticks ran from 10^floor to 10^ceil: 0.01 and 10 fell outside [0.03, 5] and were drawn over the x labels
    expect(logTicks(0.03, 5)).toEqual([0.1, 1]);
    expect(logTicks(1e-4 / 1.3, 0.2 * 1.3)).toEqual([1e-4, 1e-3, 0.01, 0.1]);
    // under one decade: 1-2-5 steps; under that: 1..9
    expect(logTicks(0.15, 0.9)).toEqual([0.2, 0.5]);
    expect(logTicks(0.31, 0.45)).toEqual([0.4]);
    expect(logTicks(0.31, 0.59)).toEqual([0.4, 0.5]);
    // many decades: every other power
    expect(logTicks(1e-9, 10)).toEqual([1e-9, 1e-7, 1e-5, 1e-3, 0.1, 10]);
    // a tick in the lowest 8 % of the axis goes (its label would sit on the x axis), unless that leaves one
    expect(logTicks(0.0105, 12, 0.08)).toEqual([0.1, 1, 10]);
    expect(logTicks(0.0105, 0.2, 0.08)).toEqual([0.02, 0.05, 0.1, 0.2]);
    expect(logTicks(0.0105, 0.011, 0.5)).toEqual([]);
    for (const [lo, hi] of [[0.003, 7], [2e-6, 0.04], [0.5, 0.52], [13, 9000]]) {
      const t = logTicks(lo, hi, 0.08);
      expect(t.every((v) => v >= lo && v <= hi)).toBe(true);
      expect(t.every((v) => Number(v.toPrecision(1)) === v)).toBe(true);
    }
    expect(logTicks(0, 1)).toEqual([]);
    expect(logTicks(2, 1)).toEqual([]);
  });

  it('step ticks are round numbers from 0', () => {
    expect(stepTicks(1000)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(stepTicks(501)).toEqual([0, 100, 200, 300, 400, 500]);
    expect(stepTicks(40)).toEqual([0, 10, 20, 30, 40]);
    expect(stepTicks(3)).toEqual([0, 1, 2, 3]);
    expect(stepTicks(0)).toEqual([0]);
  });

  it('lays the sample panels side by side when they fit, else stacks them, at one CSS pixel per unit', () => {
    const wide = sceneLayout(1000, 3, 16);
    // (1000 - 2 * 8 - 2 * 16) / 3 = 317.3 wide, 24 more high
    expect(wide.panels.map((r) => Math.round(r.x))).toEqual([8, 341, 675]);
    expect(new Set(wide.panels.map((r) => r.y)).size).toBe(1);
    expect(wide.panels[0].w).toBeCloseTo(317.33, 2);
    expect(wide.height).toBe(8 + 341 + 4 + 16 + 8);
    const narrow = sceneLayout(340, 3, 32);
    expect(narrow.panels.map((r) => r.x)).toEqual([8, 8, 8]);
    // one column 324 wide, each panel 348 high
    expect(narrow.panels.map((r) => r.y)).toEqual([8, 8 + 348 + 16, 8 + 2 * (348 + 16)]);
    expect(narrow.caption).toEqual({ x: 8, y: 8 + 3 * 348 + 2 * 16 + 4, w: 324, h: 32 });
    // no panel leaves the canvas
    for (const l of [wide, narrow, sceneLayout(600, 2, 0)]) {
      for (const r of l.panels) expect(r.x + r.w <= l.width - 8 + 1e-9 && r.y + r.h <= l.height).toBe(true);
    }
    expect(sceneLayout(600, 2, 0).panels.map((r) => r.y)).toEqual([8, 8]);
  });

  it('wraps text by measured width', () => {
    const measure = (s: string) => s.length * 10;
    expect(wrapText('one two three four', 100, measure)).toEqual(['one two', 'three four']);
    expect(wrapText('averyveryverylongword x', 50, measure)).toEqual(['averyveryverylongword', 'x']);
    expect(wrapText('', 50, measure)).toEqual([]);
  });

  it('counts points outside the view, NaN included', () => {
    expect(countOutside(new Float32Array([0, 0, 2, 0, NaN, 0, 1, 1]), { lo: -1, hi: 1 })).toBe(2);
  });

  it('scales paths [times, paths, D] to x_i / sqrt(sd^2 + t^2), per path', () => {
    const times = [3, 0];
    // two paths in 2D: time 0 rows then time 1 rows
    const paths = new Float32Array([5, 1, -5, 2, 0.5, 3, -0.5, 4]);
    const out = scaledPaths(paths, times, 2, 2, 0, 4);
    expect(out).toEqual([[1, 0.125], [-1, -0.125]]);
    expect(scaledPaths(paths, times, 2, 2, 1, 4)[1]).toEqual([0.4, 1]);
  });

  it('image helpers', () => {
    expect(toByte(-1, [-1, 1])).toBe(0);
    expect(toByte(1, [-1, 1])).toBe(255);
    expect(toByte(5, [-1, 1])).toBe(255);
    expect(toByte(NaN, [-1, 1])).toBe(0);
    expect(gridShape(16)).toEqual({ cols: 4, rows: 4 });
    expect(gridShape(5)).toEqual({ cols: 3, rows: 2 });
    expect(splitColumns({ x: 0, y: 0, w: 100, h: 10 }, 2, 10).map((r) => [r.x, r.w])).toEqual([[0, 45], [55, 45]]);
  });
});

const teacherView = (shape: number[]): TeacherView => ({
  view: shape.length === 1 ? { kind: 'points2d' } : { kind: 'images', height: shape[0], width: shape[1], channels: shape[2] },
  dataShape: shape, dataRange: [-1, 1], samples: new Float32Array(4 * shape.reduce((a, b) => a * b, 1)), count: 4, heunSteps: 18, nfe: 35,
  paths: shape.length === 1 ? new Float32Array(3 * 2 * 2) : null, pathCount: shape.length === 1 ? 2 : 0, times: [80, 1, 0.002], sigmaData: 0.5,
});
const studentView = (shape: number[]): StudentView => ({
  source: 'training', step: 20, weights: 'ema', dataShape: shape, dataRange: [-1, 1],
  samples: new Float32Array(4 * shape.reduce((a, b) => a * b, 1)), count: 4, paths: shape.length === 1 ? new Float32Array(12) : null, error: null,
});

describe('the sample scene', () => {
  it('2D: teacher scatter, student scatter over the teacher, trajectories', () => {
    const scene = buildScene(teacherView([2]), studentView([2]));
    expect(scene.panels.map((p) => p.kind)).toEqual(['scatter', 'scatter', 'paths']);
    expect(scene.panels[0].title).toBe('Teacher ODE · Heun 18 steps (35 NFE)');
    const student = scene.panels[1];
    expect(student.kind === 'scatter' && student.layers.map((l) => l.label)).toEqual(['teacher (for reference)', 'student']);
    expect(student.kind === 'scatter' && student.subtitle).toBe('step 20 · EMA weights · 1 NFE');
    const paths = scene.panels[2];
    expect(paths.kind === 'paths' && paths.student?.length).toBe(2);
    expect(scene.caption).toContain('same fixed noise');
  });

  it('before a run the student panel says how to get one', () => {
    const scene = buildScene(teacherView([2]), null);
    expect(scene.panels[1]).toMatchObject({ kind: 'message', text: 'start a distillation to see its samples' });
    expect(scene.panels[2]).toMatchObject({ kind: 'paths', student: null });
  });

  it('images: a teacher grid and a student grid (the slot the image teachers fill)', () => {
    const scene = buildScene(teacherView([8, 8, 1]), studentView([8, 8, 1]));
    expect(scene.panels.map((p) => p.kind)).toEqual(['images', 'images']);
    expect(scene.panels[1]).toMatchObject({ height: 8, width: 8, channels: 1, count: 4 });
  });

  it('a student of another data shape is shown alone; nothing at all says so', () => {
    const scene = buildScene(teacherView([2]), studentView([8, 8, 1]));
    expect(scene.panels.map((p) => p.kind)).toEqual(['message', 'images']);
    expect(buildScene(null, null).panels[0]).toMatchObject({ kind: 'message', text: 'No teacher loaded yet.' });
    const odd = buildScene({ ...teacherView([2]), dataShape: [3], view: { kind: 'none', reason: 'r' } }, null);
    expect(odd.panels[0]).toMatchObject({ kind: 'message' });
  });
});

import { describe, expect, it } from 'vitest';
import type { SweepRow } from '../../src/core/sweep';
import { runSettingSpec } from '../../src/formats/run-settings';
import { initialState, reduceEvent } from '../../src/ui/store';
import { sweepCsv } from '../../src/ui/sweep-csv';
import { sweepLayout } from '../../src/ui/sweep-draw';
import { axisScale, sweepChart, sweepXAxis, sweepYAxis } from '../../src/ui/sweep-plot';
import { finishedRuns, idleSweep, reduceSweep } from '../../src/ui/sweep-state';
import type { TeacherInfo } from '../../src/worker/protocol';
import type { SweepStatus } from '../../src/worker/sweep-protocol';

const row = (value: number | string, rel: number, euler?: number): SweepRow => ({
  value, oneStepRelative: rel, oneStepRmse: rel / 2, trajectoryRmse: rel / 3, seconds: 1.23456, lastLoss: 1e-3, steps: 10,
  ...(euler !== undefined ? { gridEulerRelative: euler } : {}),
});

describe('the sweep chart', () => {
  it('puts N on a log axis ticked at the values swept, a choice on categories, a narrow span on a linear axis', () => {
    const n = sweepXAxis(runSettingSpec('N'), [10, 25, 100, 250, 1000]);
    expect(n.kind).toBe('log');
    expect(n.ticks).toEqual([10, 25, 100, 250, 1000]);
    expect(n.domain.lo).toBeLessThan(10);
    expect(n.domain.hi).toBeGreaterThan(1000);
    const px = n.ticks.map(axisScale(n, 0, 100));
    for (let i = 1; i < px.length; i++) expect(px[i]).toBeGreaterThan(px[i - 1]);
    expect(px[2] - px[0]).toBeCloseTo(px[4] - px[2], 6); // 10 -> 100 -> 1000: equal steps on a log axis

    const loss = sweepXAxis(runSettingSpec('loss'), ['l2', 'pseudo-huber']);
    expect(loss.kind).toBe('category');
    expect(loss.ticks.map(loss.label)).toEqual(['l2', 'pseudo-huber']);
    const lr = sweepXAxis(runSettingSpec('lr'), [0.01, 0.003]);
    expect(lr.kind).toBe('linear');
    expect(lr.domain.lo).toBeLessThan(0.003);
    const one = sweepXAxis(runSettingSpec('batch'), [64]);
    expect(one.domain.hi).toBeGreaterThan(one.domain.lo);
    const many = sweepXAxis(runSettingSpec('seed'), Array.from({ length: 20 }, (_, i) => i));
    expect(many.ticks.length).toBeLessThan(20);
  });

  it('log y axes with ticks inside the domain; percent labels for the relative error', () => {
    const y = sweepYAxis([0.125, 0.063, 0.046, 0.01, 0.001], true)!;
    expect(y.kind).toBe('log');
    expect(y.domain.lo).toBeLessThan(0.001);
    expect(y.domain.hi).toBeGreaterThan(0.125);
    expect(y.ticks.length).toBeGreaterThanOrEqual(2);
    for (const t of y.ticks) expect(t >= y.domain.lo && t <= y.domain.hi).toBe(true);
    expect(y.label(0.01)).toBe('1 %');
    expect(sweepYAxis([0, -1, NaN], false)).toBeNull();
    const narrow = sweepYAxis([0.212, 0.196, 0.2], false)!; // one round tick (0.2) inside: the extremes instead
    expect(narrow.ticks).toEqual([0.2, 0.21]);
  });

  it('draws rows in the order of the values, the Euler line for analytic teachers only', () => {
    const rows = [row(100, 0.05, 0.01), row(10, 0.12, 0.12), row(25, 0.06)];
    const chart = sweepChart(runSettingSpec('N'), [10, 25, 100], rows, true);
    const [oneStep, path] = chart.panels;
    expect(oneStep.series.map((s) => s.name)).toEqual(['student, one step', "Euler on the run's N grid (PID's optimum)"]);
    expect(oneStep.series[0].points).toEqual([{ x: 10, y: 0.12 }, { x: 25, y: 0.06 }, { x: 100, y: 0.05 }]);
    expect(oneStep.series[1].points).toEqual([{ x: 10, y: 0.12 }, { x: 100, y: 0.01 }]); // a row without one is left out
    expect(path.series[0].points.map((p) => p.y)).toEqual([0.04, 0.02, 0.05 / 3]);
    expect(sweepChart(runSettingSpec('N'), [10, 25, 100], rows, false).panels[0].series).toHaveLength(1);
    const choice = sweepChart(runSettingSpec('optimizer'), ['radam', 'adam'], [row('adam', 0.1), row('radam', 0.2)], false);
    expect(choice.panels[0].series[0].points).toEqual([{ x: 0, y: 0.2 }, { x: 1, y: 0.1 }]);
  });

  it('two panels side by side when they fit, else stacked', () => {
    const wide = sweepLayout(720, 2);
    expect(wide.rects[1].x).toBeGreaterThan(wide.rects[0].x + wide.rects[0].w);
    expect(wide.rects[1].y).toBe(wide.rects[0].y);
    const narrow = sweepLayout(390, 2);
    expect(narrow.rects[1].y).toBeGreaterThan(narrow.rects[0].y + narrow.rects[0].h);
    expect(narrow.height).toBeGreaterThan(wide.height);
    for (const r of narrow.rects) expect(r.x + r.w).toBeLessThanOrEqual(390);
  });
});

describe('the sweep CSV', () => {
  it("has results.json's columns, one row per run, an empty Euler cell for learned teachers", () => {
    expect(sweepCsv('N', [row(10, 0.12, 0.1), row(25, 0.06)])).toBe(
      'N,one_step_relative,one_step_rmse,trajectory_rmse,seconds,grid_euler_relative\n'
      + `10,0.12,0.06,${0.12 / 3},1.235,0.1\n`
      + `25,0.06,0.03,${0.06 / 3},1.235,\n`,
    );
  });
});

describe('the sweep slice of the store', () => {
  const status = (patch: Partial<SweepStatus>): SweepStatus => ({ phase: 'running', key: 'N', values: [10, 25], index: 0, step: 0, totalSteps: 5, analytic: true, ...patch });
  const bytes = new Uint8Array([1, 2]);

  it('a new sweep starts a new table; finished runs land at their index; a failure keeps its reason', () => {
    let s = reduceSweep(idleSweep(), { type: 'sweep', sweep: status({}) });
    s = reduceSweep(s, { type: 'sweep', sweep: status({ step: 3 }) });
    s = reduceSweep(s, { type: 'sweep-run', index: 1, row: row(25, 0.06), fileName: 'b.safetensors', bytes });
    s = reduceSweep(s, { type: 'sweep-run', index: 0, row: row(10, 0.1), fileName: 'a.safetensors', bytes });
    expect(finishedRuns(s).map((r) => r.fileName)).toEqual(['a.safetensors', 'b.safetensors']);
    s = reduceSweep(s, { type: 'sweep', sweep: status({ phase: 'failed', index: 2, message: 'the sweep stopped at run 3: boom' }) });
    expect(s.error).toBe('the sweep stopped at run 3: boom');
    expect(finishedRuns(s)).toHaveLength(2);
    s = reduceSweep(s, { type: 'sweep', sweep: status({}) });
    expect(s.runs).toEqual([]);
    expect(s.error).toBeNull();
  });

  it('goes with the store: sweep events, sweep errors, and a new teacher clears it', () => {
    let st = { ...initialState(), ...reduceEvent(initialState(), { type: 'sweep', sweep: status({}) }) };
    st = { ...st, ...reduceEvent(st, { type: 'sweep-run', index: 0, row: row(10, 0.1), fileName: 'a.safetensors', bytes }) };
    st = { ...st, ...reduceEvent(st, { type: 'error', scope: 'sweep', message: 'a distillation is running: stop it before starting a sweep' }) };
    expect(st.sweep.error).toBe('a distillation is running: stop it before starting a sweep');
    expect(st.trainingError).toBeNull();
    const teacher = { sha256: 'abc', source: { kind: 'builtin', id: 'ring8' } } as TeacherInfo;
    st = { ...st, teacher, ...reduceEvent({ ...st, teacher }, { type: 'teacher', teacher }) };
    expect(finishedRuns(st.sweep)).toHaveLength(1); // the same teacher again (a new device): kept
    const other = { sha256: 'def', source: { kind: 'builtin', id: 'uneven3' } } as TeacherInfo;
    st = { ...st, ...reduceEvent(st, { type: 'teacher', teacher: other }) };
    expect(st.sweep).toEqual(idleSweep());
  });
});

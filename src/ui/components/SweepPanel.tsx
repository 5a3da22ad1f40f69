import { useEffect, useMemo, useRef, useState } from 'react';
import { SweepError, planSweepValues } from '../../core/sweep-plan';
import { RUN_SETTING_SPECS, type RunSettingKey, runSettingSpec } from '../../formats/run-settings';
import { runSettingsOf } from '../../worker/protocol';
import { useRuntime, useStudio } from '../context';
import { formatNumber } from '../series';
import { isRunning, waitingFor } from '../store';
import { sweepCsv } from '../sweep-csv';
import { drawSweepChart, sweepLayout } from '../sweep-draw';
import { sweepChart } from '../sweep-plot';
import { finishedRuns, sweepActive } from '../sweep-state';

/** What the values field starts with for each setting. */
const SUGGESTED: Record<RunSettingKey, string> = {
  N: '10, 25, 100, 250, 1000', loss: 'l2, l1, pseudo-huber', optimizer: 'radam, adam', lr: '0.03, 0.01, 0.003, 0.001',
  lrFinal: '0.001, 0.0001, 0.00001', ema: '0, 0.9, 0.99', batch: '64, 128, 256, 512', steps: '500, 1000, 2000, 4000',
  seed: '0, 1, 2', evalEvery: '100, 400',
};

const PHASE_TEXT = { idle: 'ready', running: 'running', paused: 'paused', stopped: 'stopped', done: 'finished', failed: 'failed' } as const;

const pct = (v: number | undefined) => (v === undefined ? '–' : `${formatNumber(v * 100, 3)} %`);

/** One distillation per value of one setting, in the worker, and their errors against the value. */
export function SweepPanel() {
  const runtime = useRuntime();
  const sweep = useStudio((s) => s.sweep);
  const settings = useStudio((s) => s.settings);
  const teacher = useStudio((s) => s.teacher);
  const teacherId = useStudio((s) => s.teacherId);
  const backend = useStudio((s) => s.backend);
  const waiting = useStudio(waitingFor);
  const runGoing = useStudio(isRunning);
  const [key, setKey] = useState<RunSettingKey>('N');
  const [text, setText] = useState(SUGGESTED.N);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(720);

  const active = sweepActive(sweep);
  const problem = useMemo(() => {
    try {
      planSweepValues(runSettingSpec(key), text.split(','), runSettingsOf(settings));
      return null;
    } catch (e) {
      return e instanceof SweepError ? e.message.replace(/^--sweep:? ?/, '') : String(e);
    }
  }, [key, text, settings]);
  const canStart = Boolean(teacher && backend) && !waiting && !active && !runGoing && problem === null;
  const why = runGoing ? 'a distillation is running: stop it first' : waiting ? `wait: ${waiting}` : !teacher ? 'load a teacher first' : problem ?? '';

  const runs = useMemo(() => finishedRuns(sweep), [sweep.runs]);
  const shownKey = sweep.status.key ?? key;
  const chart = useMemo(() => (sweep.status.key ? sweepChart(runSettingSpec(sweep.status.key), sweep.status.values, runs.map((r) => r.row), sweep.status.analytic) : null),
    [sweep.status.key, sweep.status.values, sweep.status.analytic, runs]);

  useEffect(() => {
    const c = canvas.current;
    if (!c || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => setWidth(Math.max(280, Math.round(c.clientWidth))));
    ro.observe(c);
    return () => ro.disconnect();
  }, [chart !== null]);

  useEffect(() => {
    const c = canvas.current;
    if (!c || !chart) return;
    const dpr = Math.min(3, globalThis.devicePixelRatio || 1);
    const { height } = sweepLayout(width, chart.panels.length);
    c.width = Math.round(width * dpr);
    c.height = Math.round(height * dpr);
    c.style.height = `${height}px`;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawSweepChart(ctx, width, chart);
  }, [chart, width]);

  const base = `${teacherId ?? 'teacher'}-sweep-${shownKey}`;
  const downloadCsv = () => runtime.saveFile(`${base}.csv`, new Blob([sweepCsv(shownKey, runs.map((r) => r.row))], { type: 'text/csv' }));
  const downloadPng = () => canvas.current?.toBlob((blob) => { if (blob) runtime.saveFile(`${base}.png`, blob); }, 'image/png');
  const st = sweep.status;
  const spec = runSettingSpec(key);

  return (
    <section className="panel" aria-labelledby="sweep-heading" data-testid="sweep-panel">
      <h2 id="sweep-heading">Sweep</h2>
      <p className="hint">
        One distillation per value of one setting, the other settings as in the Settings panel (the same seed and
        budget for each), then each student's error against the teacher's ODE from the same fixed noise. The paper's
        trend: the error falls as the grid's N grows, until the optimisation, not the grid, limits it.
      </p>
      <div className="settings-grid">
        <div className="field">
          <label htmlFor="sweep-key">Setting</label>
          <select id="sweep-key" value={key} disabled={active} onChange={(e) => { const k = e.target.value as RunSettingKey; setKey(k); setText(SUGGESTED[k]); }}>
            {RUN_SETTING_SPECS.map((s) => <option key={s.key} value={s.key}>{s.label}</option>)}
          </select>
        </div>
        <div className="field">
          <label htmlFor="sweep-values">Values (comma-separated)</label>
          <input id="sweep-values" type="text" value={text} disabled={active} aria-invalid={problem ? 'true' : 'false'} aria-describedby="sweep-values-hint"
            onChange={(e) => setText(e.target.value)} />
        </div>
      </div>
      <p className="hint" id="sweep-values-hint">{spec.hint}</p>
      {problem ? <p className="error" data-testid="sweep-problem">{problem}</p> : null}
      <div className="buttons">
        <button type="button" className="primary" disabled={!canStart} title={why || 'run one distillation per value, in turn'}
          onClick={() => runtime.startSweep(key, text.split(','))}>Start sweep</button>
        {st.phase === 'paused'
          ? <button type="button" onClick={() => runtime.sweepCommand('sweep-resume')}>Resume sweep</button>
          : <button type="button" disabled={st.phase !== 'running'} onClick={() => runtime.sweepCommand('sweep-pause')}>Pause sweep</button>}
        <button type="button" disabled={!active} onClick={() => runtime.sweepCommand('sweep-stop')}>Stop sweep</button>
        <span className="spacer" />
        <button type="button" disabled={runs.length === 0} onClick={downloadCsv}>Download sweep CSV</button>
        <button type="button" disabled={runs.length === 0} onClick={downloadPng}>Download sweep PNG</button>
      </div>
      {!canStart && !active && why && !problem ? <p className="hint">{why}</p> : null}
      {sweep.error ? <p className="error" role="alert" data-testid="sweep-error">{sweep.error}</p> : null}
      <p className="hint" data-testid="sweep-status" data-phase={st.phase} data-runs={runs.length} data-index={st.index}>
        Sweep: {PHASE_TEXT[st.phase]}
        {active && st.key ? ` · run ${Math.min(st.index + 1, st.values.length)}/${st.values.length}: ${st.key} = ${st.values[st.index] ?? ''}, step ${st.step}/${st.totalSteps}` : ''}
        {st.phase === 'done' ? ` · ${runs.length} runs` : ''}
      </p>
      {chart ? <canvas ref={canvas} className="sample-canvas" data-testid="sweep-canvas" data-runs={runs.length} data-x-axis={chart.x.kind} /> : null}
      {runs.length ? (
        <div style={{ overflowX: 'auto' }}>
        <table data-testid="sweep-table" style={{ width: '100%', borderCollapse: 'collapse', marginTop: 8, fontVariantNumeric: 'tabular-nums', fontSize: 13 }}>
          <thead>
            <tr style={{ textAlign: 'left' }}>
              <th>{shownKey}</th><th>one-step (relative)</th><th>one-step RMSE</th><th>path RMSE</th>
              {st.analytic ? <th>grid Euler</th> : null}<th>seconds</th><th />
            </tr>
          </thead>
          <tbody>
            {runs.map((r, i) => (
              <tr key={i} data-testid="sweep-row">
                <td>{String(r.row.value)}</td><td>{pct(r.row.oneStepRelative)}</td><td>{formatNumber(r.row.oneStepRmse, 3)}</td>
                <td>{formatNumber(r.row.trajectoryRmse, 3)}</td>{st.analytic ? <td>{pct(r.row.gridEulerRelative)}</td> : null}
                <td>{r.row.seconds.toFixed(1)}</td>
                <td>
                  <button type="button" className="link" title="this run's student as .safetensors (EMA weights)"
                    onClick={() => runtime.saveFile(r.fileName, new Blob([r.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }))}>student</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      ) : null}
    </section>
  );
}

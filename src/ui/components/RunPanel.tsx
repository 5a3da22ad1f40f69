import { useRuntime, useStudio } from '../context';
import { LOSS_SMOOTHING } from '../runtime';
import { etaSeconds, formatDuration, formatNumber, smooth, stepsPerSecond } from '../series';
import { isRunning } from '../store';

const PHASE_TEXT = {
  idle: 'ready',
  training: 'training',
  paused: 'paused',
  stopped: 'stopped',
  done: 'finished',
  failed: 'failed',
} as const;

export function RunPanel() {
  const runtime = useRuntime();
  const run = useStudio((s) => s.run);
  const teacher = useStudio((s) => s.teacher);
  const backend = useStudio((s) => s.backend);
  const busy = useStudio((s) => s.busy);
  const fieldErrors = useStudio((s) => s.fieldErrors);
  const running = useStudio(isRunning);
  const hasStudent = useStudio((s) => s.liveView !== null && s.run.phase !== 'idle');
  const hasMetrics = useStudio((s) => s.metrics.step.length > 0);
  const trainingError = useStudio((s) => s.trainingError);
  const exportError = useStudio((s) => s.exportError);
  const invalid = Object.keys(fieldErrors).length > 0;
  const canStart = Boolean(teacher && backend) && !running && !invalid;
  const startWhy = !backend ? 'the backend is starting' : !teacher ? 'load a teacher first' : invalid ? 'fix the settings marked in red' : running ? 'a run is going on' : '';
  return (
    <section className="panel" aria-labelledby="run-heading">
      <h2 id="run-heading">Distillation</h2>
      <div className="buttons">
        <button type="button" className="primary" onClick={() => runtime.start()} disabled={!canStart} title={startWhy || 'start a new distillation from the teacher'}>Start</button>
        {run.phase === 'paused'
          ? <button type="button" onClick={() => runtime.resume()}>Resume</button>
          : <button type="button" onClick={() => runtime.pause()} disabled={run.phase !== 'training'}>Pause</button>}
        <button type="button" onClick={() => runtime.stop()} disabled={!running}>Stop</button>
        <span className="spacer" />
        <button type="button" onClick={() => void runtime.downloadStudent()} disabled={!hasStudent}
          title={hasStudent ? 'the student as .safetensors (EMA weights), with how it was distilled' : 'start a distillation first'}>Download student</button>
        <button type="button" onClick={() => runtime.downloadCsv()} disabled={!hasMetrics}>Download loss CSV</button>
      </div>
      {!canStart && !running && startWhy ? <p className="hint">{startWhy}</p> : null}
      {busy ? <p className="hint" role="status">Worker: {busy}… (a run you start now begins when this is done)</p> : null}
      <Progress />
      {run.faults ? (
        <p className="warn" role="status" data-testid="run-faults">
          {run.faults.skippedSteps} step{run.faults.skippedSteps === 1 ? '' : 's'} skipped for a non-finite loss
          {run.faults.restores > 0
            ? `; went back to the last good state ${run.faults.restores} time${run.faults.restores === 1 ? '' : 's'}, learning rate now ×${run.faults.lrFactor}`
            : ''}
        </p>
      ) : null}
      {trainingError ? <p className="error" role="alert" data-testid="training-error">{trainingError}</p> : null}
      {exportError ? <p className="error" role="alert">{exportError}</p> : null}
      <p className="hint phase" data-testid="run-phase" data-phase={run.phase}>Run: {PHASE_TEXT[run.phase]}</p>
    </section>
  );
}

function Progress() {
  const run = useStudio((s) => s.run);
  const metrics = useStudio((s) => s.metrics);
  const numTensors = useStudio((s) => s.numTensors);
  const total = run.totalSteps;
  const step = metrics.step.length ? metrics.step[metrics.step.length - 1] : run.step;
  const rate = stepsPerSecond(metrics.time, metrics.step);
  const eta = run.phase === 'training' ? etaSeconds(step, total, rate) : null;
  const elapsed = metrics.time.length ? metrics.time[metrics.time.length - 1] / 1000 : null;
  const n = metrics.loss.length;
  const lastLoss = n ? metrics.loss[n - 1] : null;
  const smoothed = n ? smooth(metrics.loss.slice(Math.max(0, n - 400)), LOSS_SMOOTHING).at(-1)! : null;
  const lastMs = n ? metrics.stepMs[n - 1] : null;
  const pct = total > 0 ? Math.min(100, (100 * step) / total) : 0;
  return (
    <div className="progress-block">
      <div className="progress" role="progressbar" aria-label="Training progress" aria-valuemin={0} aria-valuemax={total || 1} aria-valuenow={step}
        aria-valuetext={`step ${step} of ${total}`}>
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <div className="stats" aria-live="off">
        <span data-testid="step-count" data-step={step}>step <strong>{step}</strong> / {total || '—'}</span>
        <span data-testid="steps-per-second">{rate === null ? '—' : formatNumber(rate)} steps/s</span>
        <span>ETA {run.phase === 'training' ? formatDuration(eta) : '—'}</span>
        <span>elapsed {formatDuration(elapsed)}</span>
        <span>loss {formatNumber(lastLoss)} (smoothed {formatNumber(smoothed)})</span>
        <span>{lastMs === null ? '—' : `${formatNumber(lastMs)} ms/step`}</span>
        <span data-testid="tensor-count" data-tensors={numTensors ?? ''} title="tensors alive in the worker (constant from step to step: no leak)">{numTensors ?? '—'} tensors</span>
      </div>
    </div>
  );
}

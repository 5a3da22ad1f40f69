import { useEffect, useState } from 'react';
import { runShape } from '../../core/plan';
import { sweepActive } from '../sweep-state';
import { useRuntime, useStudio } from '../context';
import { LOSS_SMOOTHING } from '../runtime';
import type { CheckpointStatus, MemoryReport } from '../../worker/protocol';
import { etaSeconds, evalInterval, runPace } from '../pace';
import { formatAgo, formatBytes, formatDuration, formatNumber, smooth } from '../series';
import { isRunning, waitingFor } from '../store';

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
  // A run that failed before its first step left the untrained initial network: nothing to download.
  const untrained = run.phase === 'failed' && run.step === 0;
  const downloadWhy = untrained ? 'the run failed at step 0: the student was never trained' : !hasStudent ? 'start a distillation first' : '';
  const hasMetrics = useStudio((s) => s.metrics.step.length > 0);
  const trainingError = useStudio((s) => s.trainingError);
  const exportError = useStudio((s) => s.exportError);
  const notice = useStudio((s) => s.notice);
  const checkpoint = useStudio((s) => s.checkpoint);
  const waiting = useStudio(waitingFor);
  const backendError = useStudio((s) => s.backendError);
  const invalid = Object.keys(fieldErrors).length > 0;
  const sweeping = useStudio((s) => sweepActive(s.sweep));
  // A run the plan says cannot fit here starts only when asked again ("Try anyway"): never out of memory by default.
  const settings = useStudio((s) => s.settings);
  const planCost = useStudio((s) => s.planCost);
  const [insisted, setInsisted] = useState(false);
  const tooLarge = planCost !== null && !runShape(planCost.cost, planCost.limit, settings).fits && !insisted;
  const runZipWhy = !teacher ? 'load a teacher first' : waiting && !running ? `wait: ${waiting}` : invalid ? 'fix the settings marked in red' : '';
  const canStart = Boolean(teacher && backend) && !running && !sweeping && !invalid && !waiting && !tooLarge;
  const startWhy = running ? 'a run is going on' : sweeping ? 'a sweep is running: stop it first' : waiting ? `wait: ${waiting}` : !backend ? (backendError ? 'no backend started' : 'the backend is starting')
    : !teacher ? 'load a teacher first' : invalid ? 'fix the settings marked in red'
      : tooLarge ? 'this run does not fit in memory here (see Settings): it would fail' : '';
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
        <button type="button" onClick={() => void runtime.downloadStudent()} disabled={downloadWhy !== ''}
          title={downloadWhy || 'the student as .safetensors (EMA weights), with how it was distilled'}>Download student</button>
        <button type="button" onClick={() => void runtime.downloadStudent('pytorch')} disabled={downloadWhy !== '' || !teacher?.parameterCount}
          title={downloadWhy || "the student's EMA weights as a torch.save state dict under the teacher's names: torch.load(path, weights_only=True)"}>
          Download for PyTorch (.pt)
        </button>
        <button type="button" onClick={() => runtime.downloadCsv()} disabled={!hasMetrics}>Download loss CSV</button>
        <button type="button" data-testid="run-on-gpus" onClick={() => void runtime.downloadRun()} disabled={runZipWhy !== ''}
          title={runZipWhy || 'a .zip of this teacher and these settings for PyTorch under torchrun on your GPUs (torch/train.py, run.sh and a README inside); open its student.safetensors here afterwards'}>
          Run on your GPUs (.zip)
        </button>
      </div>
      {!canStart && !running && startWhy && !waiting ? (
        <p className="hint" data-testid="start-why">
          {startWhy}
          {tooLarge ? <>{' '}<button type="button" className="link" onClick={() => setInsisted(true)}>Try anyway</button></> : null}
        </p>
      ) : null}
      {waiting && !running && !waiting.startsWith('preparing') ? <p className="hint" role="status" data-testid="waiting">Wait: {waiting}… Start is enabled when this is done.</p> : null}
      {busy && running ? <p className="hint" role="status">Worker: {busy}…</p> : null}
      <Progress />
      {run.faults ? (
        <p className="warn" role="status" data-testid="run-faults">
          {run.faults.skippedSteps} step{run.faults.skippedSteps === 1 ? '' : 's'} skipped for a non-finite loss
          {run.faults.restores > 0
            ? `; went back to the last good state ${run.faults.restores} time${run.faults.restores === 1 ? '' : 's'}, learning rate now ×${run.faults.lrFactor}`
            : ''}
        </p>
      ) : null}
      {notice ? (
        <p className="warn notice" role="status" data-testid="notice">
          {notice} <button type="button" className="link" onClick={() => runtime.dismissNotice()}>dismiss</button>
        </p>
      ) : null}
      {trainingError ? <p className="error" role="alert" data-testid="training-error">{trainingError}</p> : null}
      {checkpoint && run.phase !== 'idle' ? <CheckpointLine checkpoint={checkpoint} /> : null}
      {exportError ? <p className="error" role="alert">{exportError}</p> : null}
      <p className="hint phase" data-testid="run-phase" data-phase={run.phase} data-waiting={waiting ? 'true' : 'false'}>
        Run: {run.phase === 'idle' && waiting ? (waiting.startsWith('preparing') ? waiting : `waiting (${waiting})`) : PHASE_TEXT[run.phase]}
      </p>
    </section>
  );
}

function Progress() {
  const run = useStudio((s) => s.run);
  const metrics = useStudio((s) => s.metrics);
  const memory = useStudio((s) => s.memory);
  const evals = useStudio((s) => s.evals);
  const total = run.totalSteps;
  const step = metrics.step.length ? metrics.step[metrics.step.length - 1] : run.step;
  const evalSteps = evals.map((e) => e.step);
  const every = evalInterval(run.settings?.evalEvery, evalSteps);
  const pace = runPace(metrics.step, metrics.time, evalSteps, every);
  const rate = pace?.stepsPerSecond ?? null;
  const eta = run.phase === 'training' ? etaSeconds(pace, step, total, every, evalSteps.at(-1) ?? -1) : null;
  const paceTitle = pace
    ? `over the last steps: ${formatNumber(pace.stepMs)} ms a step${pace.evalMs !== null ? `, and each evaluation ${formatNumber(pace.evalMs / 1000)} s${every ? ` every ${every} steps` : ''}` : ''}; the ETA counts the evaluations to come`
    : undefined;
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
        {run.microBatch && run.settings ? (
          <span data-testid="micro-batch" title="the batch does not fit in memory at once: its passes' gradients are summed, the same step as the whole batch">
            batch {run.settings.batch} as {Math.ceil(run.settings.batch / run.microBatch)} x {run.microBatch}
          </span>
        ) : null}
        <span data-testid="steps-per-second" title={paceTitle}>{rate === null ? '—' : formatNumber(rate)} steps/s</span>
        <span data-testid="eta" title={paceTitle}>ETA {run.phase === 'training' ? formatDuration(eta) : '—'}</span>
        <span>elapsed {formatDuration(elapsed)}</span>
        <span>loss {formatNumber(lastLoss)} (smoothed {formatNumber(smoothed)})</span>
        <span>{lastMs === null ? '—' : `${formatNumber(lastMs)} ms/step`}</span>
        <MemoryStat memory={memory} />
      </div>
    </div>
  );
}

function MemoryStat({ memory }: { memory: MemoryReport | null }) {
  const title = 'memory of the training worker (tf.memory()): tensors alive and their bytes, constant from step to step when nothing leaks'
    + (memory?.gpuBytesAllocated !== undefined ? '; GPU buffers in use / allocated (tfjs keeps freed buffers for reuse)' : '');
  return (
    <span data-testid="memory" data-tensors={memory?.numTensors ?? ''} data-bytes={memory?.numBytes ?? ''} data-gpu-bytes={memory?.gpuBytes ?? ''} title={title}>
      memory {memory ? `${memory.numTensors} tensors, ${formatBytes(memory.numBytes)}` : '—'}
      {memory?.gpuBytes !== undefined ? ` (GPU ${formatBytes(memory.gpuBytes)}${memory.gpuBytesAllocated !== undefined ? ` in use, ${formatBytes(memory.gpuBytesAllocated)} allocated` : ''})` : ''}
    </span>
  );
}

/** The time now, renewed every `ms` while the component is mounted (for "… ago" texts). */
function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

function CheckpointLine({ checkpoint }: { checkpoint: CheckpointStatus }) {
  const now = useNow(5000);
  const where = checkpoint.stored ? 'saved in this browser' : 'kept in memory only';
  return (
    <p className={checkpoint.stored ? 'hint' : 'warn'} data-testid="checkpoint" data-step={checkpoint.step} data-stored={String(checkpoint.stored)}>
      Checkpoint: step {checkpoint.step}, {where} {formatAgo(checkpoint.savedAt, now)} ({formatBytes(checkpoint.bytes)}; training waited {formatNumber(checkpoint.pauseMs)} ms)
      {checkpoint.storageError ? ` — ${checkpoint.storageError}` : ''}
    </p>
  );
}

import { useEffect, useRef, useState } from 'react';
import { adapterLabel } from '../../worker/adapter';
import { BACKEND_CHOICES, type BackendChoice } from '../../worker/protocol';
import { useRuntime, useStudio } from '../context';
import { isRunning } from '../store';

const CHOICE_LABEL: Record<BackendChoice, string> = {
  auto: 'auto (WebGPU, else WebGL, wasm, cpu)',
  webgpu: 'webgpu',
  webgl: 'webgl',
  wasm: 'wasm',
  cpu: 'cpu (plain JavaScript)',
};

/** What runs, as the worker reported it: tf.getBackend(), the adapter, and why a fallback happened. */
export function BackendBadge() {
  const backend = useStudio((s) => s.backend);
  const error = useStudio((s) => s.backendError);
  const choice = useStudio((s) => s.backendChoice);
  if (error) {
    return <div className="badge badge-error" data-testid="backend-badge" role="status">no backend: {error}</div>;
  }
  if (!backend) return <div className="badge" data-testid="backend-badge" role="status">starting the backend{choice === 'auto' ? '' : ` (${choice})`}…</div>;
  // Why "auto" took this backend (the worker's own words), when it says.
  const reason = (backend as { reason?: string }).reason;
  const fallback = Boolean(backend.fallbackReason);
  const adapter = backend.got === 'webgpu' && backend.adapter ? adapterLabel(backend.adapter) : null;
  return (
    <div
      className={`badge ${fallback ? 'badge-fallback' : backend.adapter?.software && backend.got === 'webgpu' ? 'badge-software' : 'badge-ok'}`}
      data-testid="backend-badge"
      data-backend={backend.got}
      data-software={backend.got === 'webgpu' ? String(Boolean(backend.adapter?.software)) : undefined}
      role="status"
    >
      <span className="badge-main">
        backend <strong>{backend.got}</strong>
        {adapter ? <> · {adapter}</> : null}
        {backend.asked !== 'auto' ? <> · asked {backend.asked}</> : null}
      </span>
      {reason ? <span className="badge-why" data-testid="backend-reason">{reason}</span> : null}
      {fallback ? <span className="badge-why">fallback: {backend.fallbackReason}</span> : null}
      {backend.got === 'webgpu' && backend.adapter?.software
        ? <span className="badge-why">no GPU behind this adapter: the wasm backend is usually several times faster here</span>
        : null}
    </div>
  );
}

/** Keys that step through a closed select's options (each fires a change in Chromium). */
const STEP_KEYS = new Set(['ArrowDown', 'ArrowUp', 'ArrowLeft', 'ArrowRight', 'Home', 'End', 'PageDown', 'PageUp']);

/**
 * The backend the worker starts. A change restarts the worker, so it applies once: a pick with the mouse at once,
 * keyboard steps when they stop (BACKEND_SETTLE_MS), on Enter or when the select loses focus.
 */
export function BackendSelect() {
  const runtime = useRuntime();
  const choice = useStudio((s) => s.backendChoice);
  const running = useStudio(isRunning);
  const [draft, setDraft] = useState<BackendChoice>(choice);
  const lastStepKey = useRef(-Infinity);
  useEffect(() => setDraft(choice), [choice]);
  return (
    <label className="backend-select">
      Backend
      <select value={draft} disabled={running}
        onKeyDown={(e) => {
          if (STEP_KEYS.has(e.key) || e.key.length === 1) lastStepKey.current = performance.now();
          // after the change event the key may cause
          if (e.key === 'Enter') setTimeout(() => runtime.commitBackend(), 0);
        }}
        onChange={(e) => {
          const next = e.target.value as BackendChoice;
          setDraft(next);
          runtime.chooseBackend(next, performance.now() - lastStepKey.current < 250 ? 'settle' : 'now');
        }}
        onBlur={() => runtime.commitBackend()}
        title={running ? 'stop the run to change the backend' : 'a new backend restarts the worker and reloads the teacher'}>
        {BACKEND_CHOICES.map((c) => <option key={c} value={c}>{CHOICE_LABEL[c]}</option>)}
      </select>
    </label>
  );
}

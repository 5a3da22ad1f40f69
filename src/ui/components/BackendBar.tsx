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
  if (error) {
    return <div className="badge badge-error" data-testid="backend-badge" role="status">no backend: {error}</div>;
  }
  if (!backend) return <div className="badge" data-testid="backend-badge" role="status">starting the backend…</div>;
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
      {fallback ? <span className="badge-why">fallback: {backend.fallbackReason}</span> : null}
      {backend.got === 'webgpu' && backend.adapter?.software
        ? <span className="badge-why">no GPU behind this adapter: the wasm backend is usually several times faster here</span>
        : null}
    </div>
  );
}

export function BackendSelect() {
  const runtime = useRuntime();
  const choice = useStudio((s) => s.backendChoice);
  const running = useStudio(isRunning);
  return (
    <label className="backend-select">
      Backend
      <select value={choice} disabled={running} onChange={(e) => runtime.setBackend(e.target.value as BackendChoice)}
        title={running ? 'stop the run to change the backend' : 'a new backend restarts the worker and reloads the teacher'}>
        {BACKEND_CHOICES.map((c) => <option key={c} value={c}>{CHOICE_LABEL[c]}</option>)}
      </select>
    </label>
  );
}

import { useRuntime, useStudio } from '../context';
import { formatAgo, formatBytes } from '../series';

/** After a reload: the run saved in this browser, with Resume and Discard. */
export function SavedRunBanner() {
  const runtime = useRuntime();
  const saved = useStudio((s) => s.savedRun);
  const error = useStudio((s) => s.savedRunError);
  const running = useStudio((s) => s.run.phase === 'training' || s.run.phase === 'paused');
  if (!saved && !error) return null;
  if (!saved) {
    return <section className="panel banner" aria-label="Saved distillation"><p className="error" role="alert" data-testid="saved-run-error">{error}</p></section>;
  }
  const finished = saved.phase === 'done' || saved.phase === 'stopped';
  const where = saved.teacherSource.kind === 'builtin' ? `built-in teacher "${saved.teacherName}"` : `teacher "${saved.teacherName}" (${saved.teacherSource.names.join(', ')}, kept in this browser)`;
  return (
    <section className="panel banner" aria-label="Saved distillation" data-testid="saved-run" data-step={saved.step}>
      <p>
        <strong>A distillation was saved in this browser</strong>: {where}, step {saved.step} of {saved.totalSteps}
        {finished ? ` (${saved.phase === 'done' ? 'finished' : 'stopped'})` : ''}, saved {formatAgo(saved.savedAt, Date.now())} ({formatBytes(saved.bytes)}).
      </p>
      <div className="buttons">
        <button type="button" className="primary" disabled={running} onClick={() => runtime.resumeSaved()}
          title={running ? 'stop the current run first' : 'load its teacher, check it is the same file (sha256) and continue from the saved step'}>
          {finished ? 'Restore it' : `Resume from step ${saved.step}`}
        </button>
        <button type="button" onClick={() => runtime.discardSaved()}>Discard</button>
      </div>
      {error ? <p className="error" role="alert" data-testid="saved-run-error">{error}</p> : null}
      <p className="hint">Starting a new distillation replaces the saved one.</p>
    </section>
  );
}

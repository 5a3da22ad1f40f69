import { useRef } from 'react';
import { readFiles } from '../download';
import { useRuntime, useStudio } from '../context';
import { formatNumber, sampleCount } from '../series';
import { isRunning, waitingFor } from '../store';

/** "Open a student": reads a downloaded student file and samples it in one step, next to the teacher. */
export function StudentPanel() {
  const runtime = useRuntime();
  const opened = useStudio((s) => s.opened);
  const error = useStudio((s) => s.openError);
  const backend = useStudio((s) => s.backend);
  const waiting = useStudio(waitingFor);
  const input = useRef<HTMLInputElement>(null);
  const builtinStudent = useStudio((s) => s.builtins?.teachers.find((t) => t.id === s.teacherId)?.student ?? null);
  const running = useStudio(isRunning);
  const take = async (files: FileList | null) => {
    if (!files || files.length === 0) return;
    try {
      await runtime.openStudent(await readFiles(files));
    } catch (e) {
      runtime.store.getState().set({ openError: `the file could not be read: ${e instanceof Error ? e.message : String(e)}` });
    }
  };
  const info = opened?.info;
  const err = opened?.view.error;
  return (
    <section className="panel" aria-labelledby="student-heading">
      <h2 id="student-heading">Student file</h2>
      <div className="buttons">
        <button type="button" onClick={() => input.current?.click()} disabled={!backend || waiting !== null}
          title={waiting ? `wait: ${waiting}` : 'read a student file and sample it against the loaded teacher'}>Open a student</button>
        <input ref={input} type="file" multiple accept=".safetensors,.json,.pt,.pth,.bin,.ckpt,.pkl" hidden
          onChange={(e) => { void take(e.target.files); e.target.value = ''; }} />
        {builtinStudent ? (
          <button type="button" onClick={() => void runtime.openBuiltinStudent()} disabled={!backend || waiting !== null}
            title={builtinStudent.description}>Open the built-in student</button>
        ) : null}
        <span className="hint">A downloaded student (or config.json + .safetensors) is read and sampled in one step from the same noise as the teacher. A bare EDM network (.pt, .pkl, state-dict .safetensors, such as the PID reference code's ema_*.pt) is read as a PID student.</span>
      </div>
      {builtinStudent ? <p className="hint" data-testid="builtin-student">Built-in student: {builtinStudent.name}. {builtinStudent.description}</p> : null}
      {error ? <p className="error" role="alert" data-testid="student-error">{error}</p> : null}
      {info ? (
        <div className="card" data-testid="opened-student">
          <h3>{info.name}</h3>
          <dl>
            <dt>File</dt><dd>{info.fileName}</dd>
            <dt>Network</dt><dd>{info.networkType}, {info.parameterCount.toLocaleString('en-US')} parameters, data [{info.dataShape.join(', ')}]</dd>
            {info.teacherName !== null && info.teacherSha256 !== null ? (<>
              <dt>Distilled from</dt>
              <dd>{info.teacherName} · sha256 {info.teacherSha256.slice(0, 12)}… {info.matchesTeacher ? '(the loaded teacher)' : '(not the loaded teacher)'}</dd>
            </>) : null}
            {info.pid ? (<>
              <dt>PID settings</dt>
              <dd>N {info.pid.N}, {info.pid.loss}, {info.pid.optimizer}, lr {info.pid.lr}{info.pid.lr_final !== undefined && info.pid.lr_final !== info.pid.lr ? ` → ${info.pid.lr_final}` : ''}, batch {info.pid.batch}, {info.pid.steps} steps, EMA {info.pid.ema}, seed {info.pid.seed}</dd>
            </>) : null}
            {info.bare ? (<>
              <dt>Read as</dt>
              <dd data-testid="opened-bare">a bare network ({info.bare.format === 'edm-snapshot' ? 'EDM snapshot' : `${info.bare.format} state dict`}) read as a PID student: x = (σ_min/T) z + (1 − σ_min/T) F(c_in(T) z, c_noise(σ_min)), precond {info.bare.precond} ({info.bare.precondFrom}); the file records no teacher or training settings</dd>
            </>) : null}
            {err ? (<><dt>Trajectory error</dt><dd data-testid="opened-error">path RMSE {formatNumber(err.rmsePath)}, one-step RMSE {formatNumber(err.rmseEnd)} against the loaded teacher</dd></>) : null}
          </dl>
          <p className="hint" role="status" data-testid="opened-status">Sampled {sampleCount(opened!.view.count, opened!.view.dataShape)} in one step (1 NFE).</p>
          {info.matchesTeacher ? (
            <div className="buttons">
              <button type="button" disabled={running || waiting !== null} onClick={() => runtime.continueFromOpened()}
                title="a new run that starts from this student's weights, with the settings above (fresh optimiser moments)">Continue training from this student</button>
            </div>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

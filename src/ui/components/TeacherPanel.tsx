import { type DragEvent, useId, useRef, useState } from 'react';
import { readFiles } from '../download';
import { useRuntime, useStudio } from '../context';
import { formatNumber } from '../series';
import { isRunning } from '../store';

export function TeacherPanel() {
  const runtime = useRuntime();
  const builtins = useStudio((s) => s.builtins);
  const builtinsError = useStudio((s) => s.builtinsError);
  const teacherId = useStudio((s) => s.teacherId);
  const running = useStudio(isRunning);
  const selectId = useId();
  const entry = builtins?.teachers.find((t) => t.id === teacherId);
  return (
    <section className="panel" aria-labelledby="teacher-heading">
      <h2 id="teacher-heading">Teacher</h2>
      <label htmlFor={selectId}>Built-in teacher</label>
      <select id={selectId} value={teacherId ?? ''} disabled={running || !builtins}
        onChange={(e) => runtime.selectBuiltin(e.target.value)}>
        {teacherId === null ? <option value="">(a dropped file)</option> : null}
        {builtins?.teachers.map((t) => <option key={t.id} value={t.id}>{t.name}{t.id === builtins.default ? ' (default)' : ''}</option>)}
      </select>
      {entry ? <p className="hint">{entry.description}</p> : null}
      {builtinsError ? <p className="error" role="alert">{builtinsError}</p> : null}
      <DropZone disabled={running} />
      <TeacherCard />
    </section>
  );
}

function DropZone({ disabled }: { disabled: boolean }) {
  const runtime = useRuntime();
  const error = useStudio((s) => s.teacherError);
  const loading = useStudio((s) => s.teacherLoading);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const errorId = useId();

  const take = async (files: FileList | null) => {
    if (!files || files.length === 0 || disabled) return;
    try {
      runtime.dropTeacher(await readFiles(files));
    } catch (e) {
      const names = Array.from(files, (f) => f.name).join(', ');
      runtime.teacherFileProblem(`${names}: the file could not be read (${e instanceof Error ? e.message : String(e)}). Fix: choose the file again`);
    }
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void take(e.dataTransfer.files);
  };
  return (
    <div className="dropzone-wrap">
      <div
        className={`dropzone${over ? ' over' : ''}${disabled ? ' disabled' : ''}`}
        data-testid="teacher-dropzone"
        role="group"
        aria-label="Drop a teacher model file"
        aria-describedby={error ? errorId : undefined}
        onDragOver={(e) => { e.preventDefault(); if (!disabled) setOver(true); }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>Drop a teacher here: one <code>.safetensors</code> model file, or a <code>config.json</code> + <code>.safetensors</code> pair.</p>
        <button type="button" onClick={() => input.current?.click()} disabled={disabled}>Choose teacher files</button>
        <input ref={input} type="file" multiple accept=".safetensors,.json" hidden
          onChange={(e) => { void take(e.target.files); e.target.value = ''; }} />
        {loading ? <p className="hint" role="status">Loading {loading.kind === 'builtin' ? loading.id : loading.names.join(' + ')}…</p> : null}
      </div>
      {error ? <p id={errorId} className="error" role="alert" data-testid="teacher-error">{error}</p> : null}
    </div>
  );
}

function TeacherCard() {
  const t = useStudio((s) => s.teacher);
  const busy = useStudio((s) => s.busy);
  if (!t) return <p className="hint">{busy ?? 'No teacher loaded yet.'}</p>;
  return (
    <div className="card" data-testid="teacher-card" aria-label="Teacher card">
      <h3>{t.name}</h3>
      <dl>
        <dt>Network</dt>
        <dd>{t.networkType}{t.networkDetails.length ? ` (${t.networkDetails.map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}</dd>
        <dt>Parameters</dt>
        <dd>{t.parameterCount !== null ? t.parameterCount.toLocaleString('en-US') : `none learned: analytic, ${t.components} components`}</dd>
        <dt>Data shape</dt>
        <dd>[{t.dataShape.join(', ')}] in [{t.dataRange.join(', ')}]</dd>
        <dt>Sigma range</dt>
        <dd>σ from {formatNumber(t.sigmaMin)} to {formatNumber(t.sigmaMax)} (σ_data {formatNumber(t.sigmaData)}, ρ {formatNumber(t.rho)})</dd>
        <dt>File</dt>
        <dd title={t.sha256}>{t.fileName} · sha256 {t.sha256.slice(0, 12)}…</dd>
      </dl>
      {busy ? <p className="hint" role="status">{busy}…</p> : null}
    </div>
  );
}

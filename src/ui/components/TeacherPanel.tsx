import { type DragEvent, useId, useRef, useState } from 'react';
import { readFiles } from '../download';
import { useRuntime, useStudio } from '../context';
import { formatNumber } from '../series';
import { isRunning, loadingName, waitingFor } from '../store';
import type { PrecondType } from '../../core/model-import';
import type { PrecondSpec } from '../../formats/config';

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
  const builtins = useStudio((s) => s.builtins);
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
        <p>Drop a teacher here: one <code>.safetensors</code> model file, a <code>config.json</code> + <code>.safetensors</code> pair, or a
          PyTorch state dict (<code>.pt</code>, <code>.pth</code>, <code>.bin</code>, <code>.ckpt</code> or a state-dict <code>.safetensors</code>)
          of an EDM SongUNet (DDPM++, NCSN++) or DhariwalUNet (ADM), an EDM network snapshot (<code>.pkl</code>), or the files of a diffusers <code>UNet2DModel</code> folder
          together (<code>config.json</code>, <code>diffusion_pytorch_model.safetensors</code>, <code>scheduler_config.json</code>).</p>
        <button type="button" onClick={() => input.current?.click()} disabled={disabled}>Choose teacher files</button>
        <input ref={input} type="file" multiple accept=".safetensors,.json,.pt,.pth,.bin,.ckpt,.pkl" hidden
          onChange={(e) => { void take(e.target.files); e.target.value = ''; }} />
        {loading && loading.kind === 'files' ? <p className="hint" role="status">Loading {loadingName({ builtins }, loading)}…</p> : null}
      </div>
      {error ? <p id={errorId} className="error" role="alert" data-testid="teacher-error">{error}</p> : null}
    </div>
  );
}

/** A hyper-parameter's value for the card: lists as their values ("[1, 2]"), an empty one as "none". */
export function detailText(value: unknown): string {
  if (Array.isArray(value)) return value.length ? `[${value.join(', ')}]` : 'none';
  if (value === '[]') return 'none';
  return String(value);
}

function TeacherCard() {
  const t = useStudio((s) => s.teacher);
  const busy = useStudio((s) => s.busy);
  const loading = useStudio((s) => s.teacherLoading);
  const builtins = useStudio((s) => s.builtins);
  const waiting = useStudio(waitingFor);
  // While another teacher loads, the card of the previous one would say the wrong thing: say what is coming.
  if (loading) {
    return (
      <div className="card card-loading" data-testid="teacher-loading" role="status">
        <h3>Loading {loadingName({ builtins }, loading)}…</h3>
        <p className="hint">Reading the file, then solving the teacher's ODE for the sample view; Start is enabled when it is done.{t ? ` (${t.name} stays loaded if this fails.)` : ''}</p>
      </div>
    );
  }
  if (!t) return <p className="hint" data-testid="teacher-none">{waiting ? `Wait: ${waiting}…` : 'No teacher loaded yet.'}</p>;
  return (
    <div className="card" data-testid="teacher-card" aria-label="Teacher card">
      <h3>{t.name}</h3>
      <dl>
        <dt>Network</dt>
        <dd data-testid="teacher-architecture">{t.architecture}</dd>
        <dt>Hyper-parameters</dt>
        <dd>{t.networkType}{t.networkDetails.length ? ` (${t.networkDetails.map(([k, v]) => `${k} ${detailText(v)}`).join(', ')})` : ''}</dd>
        <dt>Parameters</dt>
        <dd>{t.parameterCount !== null ? t.parameterCount.toLocaleString('en-US') : `none learned: analytic, ${t.components} components`}</dd>
        <dt>Data shape</dt>
        <dd>[{t.dataShape.join(', ')}] in [{t.dataRange.join(', ')}]</dd>
        <dt>Classes</dt>
        <dd data-testid="teacher-classes">{t.labelDim > 0 ? `${t.labelDim} (class-conditional: label_dim ${t.labelDim})` : 'none (unconditional)'}</dd>
        <dt>Preconditioning</dt>
        {/* The selector takes the card's full width, under its term: beside it, its option text would be cut on a phone. */}
        <dd className={t.precondChoosable ? 'card-wide' : undefined}><PrecondChoice /></dd>
        {t.weightsTaken ? (<><dt>Weights</dt><dd>{t.weightsTaken === 'state dict' ? "the file's state dict" : !t.precondChoosable ? t.weightsTaken : `the checkpoint's '${t.weightsTaken}' entry`}</dd></>) : null}
        <dt>Sigma range</dt>
        <dd>σ from {formatNumber(t.sigmaMin)} to {formatNumber(t.sigmaMax)} (σ_data {formatNumber(t.sigmaData)}, ρ {formatNumber(t.rho)})</dd>
        <dt>File</dt>
        <dd title={t.sha256}>{t.fileName} · sha256 {t.sha256.slice(0, 12)}…</dd>
      </dl>
      {t.labelDim > 0 ? <ClassPicker labelDim={t.labelDim} /> : null}
      {busy ? <p className="hint" role="status">{busy}…</p> : null}
    </div>
  );
}

const PRECOND_TEXT: Record<PrecondSpec['type'], string> = {
  edm: 'EDM (EDMPrecond, σ_data 0.5)',
  vp: 'VP (VPPrecond, DDPM++)',
  ve: 'VE (VEPrecond, NCSN++)',
  'ddpm-eps': 'DDPM ε-prediction (its scheduler)',
};
const CHOICES: PrecondType[] = ['edm', 'vp', 've'];

/** The preconditioning, with a selector when the file did not say (a bare state dict: EDM's is assumed). */
function PrecondChoice() {
  const runtime = useRuntime();
  const t = useStudio((s) => s.teacher)!;
  const running = useStudio(isRunning);
  const id = useId();
  const clipped = t.trainedSigmas
    ? <span className="hint"> trained on σ {formatNumber(t.trainedSigmas[0])} to {formatNumber(t.trainedSigmas[1])}: sampling is clipped to it</span> : null;
  const from = t.precondFrom ? <span className="hint" data-testid="teacher-precond-from"> read from {t.precondFrom}</span> : null;
  if (!t.precondChoosable) return <>{PRECOND_TEXT[t.precond]}{from}{clipped}</>;
  return (
    <>
      <select id={id} aria-label="Preconditioning of the dropped state dict" value={t.precond} disabled={running}
        onChange={(e) => runtime.setTeacherPrecond(e.target.value as PrecondType)}>
        {CHOICES.map((p) => <option key={p} value={p}>{PRECOND_TEXT[p]}</option>)}
      </select>
      {t.precondAssumed ? <span className="hint"> assumed: a state dict does not say how it was trained; EDM's and PID's released models use EDM</span> : null}
      {clipped}
    </>
  );
}

/** Which class the sample grids of a class-conditional teacher show. */
function ClassPicker({ labelDim }: { labelDim: number }) {
  const runtime = useRuntime();
  const chosen = useStudio((s) => s.sampleClass);
  const id = useId();
  return (
    <p>
      <label htmlFor={id}>Class shown in the samples </label>
      <select id={id} data-testid="class-picker" value={chosen === null ? '' : String(chosen)}
        onChange={(e) => runtime.setSampleClass(e.target.value === '' ? null : Number(e.target.value))}>
        <option value="">every class in turn</option>
        {Array.from({ length: labelDim }, (_, k) => <option key={k} value={k}>class {k}</option>)}
      </select>
    </p>
  );
}

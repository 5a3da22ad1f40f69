/**
 * The page's runtime: owns the worker client, turns user actions into commands, folds events into the store and
 * keeps the URL in step with the settings. No React here; components call these actions.
 */
import type { BuiltinIndex } from '../core/teachers/builtin';
import type { InputFile } from '../formats/model-file';
import type { PrecondType } from '../core/model-import';
import type { RunSettingKey } from '../formats/run-settings';
import { StudioClient, type WorkerPort } from '../worker/client';
import { type BackendChoice, type WorkerEvent, runSettingsOf } from '../worker/protocol';
import { BACKEND_SETTLE_MS, BACKEND_START_LIMIT_MS, SettlingChoice, fallbackFor } from './backend-switch';
import { lossCsv } from './csv';
import { type StudioStore, isRunning, openedStudent } from './store';
import { encodeUrlState } from './url-state';

export const LOSS_SMOOTHING = 0.9;

export interface RuntimeDeps {
  store: StudioStore;
  makeWorker(): WorkerPort;
  /** Absolute URL of a path relative to the site (the page works from any folder of any static host). */
  siteUrl(path: string): string;
  fetchJson(url: string): Promise<unknown>;
  download(fileName: string, blob: Blob): void;
  /** Writes the query string into the address bar (history.replaceState). */
  writeUrl?(query: string): void;
  /** How long a backend may take to start (default BACKEND_START_LIMIT_MS). */
  backendStartLimitMs?: number;
}

export class StudioRuntime {
  private client: StudioClient;
  private unsubscribeClient: () => void;
  /** The dropped teacher files, kept to reload them when the backend changes (the worker gets copies). */
  private droppedTeacher: InputFile[] | null = null;
  private droppedPrecond: PrecondType | undefined;
  private configureTimer: ReturnType<typeof setTimeout> | null = null;
  private lastHeun: number;
  /** Running while a backend starts: past the limit the worker is restarted on the fallback backend. */
  private startTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly backendSwitch = new SettlingChoice<BackendChoice>((choice) => this.setBackend(choice), BACKEND_SETTLE_MS);
  canvas: HTMLCanvasElement | null = null;

  constructor(private readonly deps: RuntimeDeps) {
    const { client, unsubscribe } = this.connect();
    this.client = client;
    this.unsubscribeClient = unsubscribe;
    this.lastHeun = deps.store.getState().settings.heunSteps;
    deps.store.subscribe((s, prev) => {
      if (s.settings !== prev.settings || s.teacherId !== prev.teacherId || s.backendChoice !== prev.backendChoice || s.explicit !== prev.explicit || s.preset !== prev.preset
      || s.checkpointSeconds !== prev.checkpointSeconds) {
        this.syncUrl();
      }
      if (s.settings.heunSteps !== this.lastHeun && !isRunning(s)) this.scheduleConfigure();
    });
  }

  private connect(): { client: StudioClient; unsubscribe: () => void } {
    const client = new StudioClient(this.deps.makeWorker());
    const unsubscribe = client.on((e) => {
      this.watchEvent(e);
      this.deps.store.getState().apply(e);
    });
    return { client, unsubscribe };
  }

  /** A backend report, or an error that ends the start, stops the start's clock; a run that killed the backend restarts it. */
  private watchEvent(e: WorkerEvent): void {
    if (e.type === 'backend' || (e.type === 'error' && (e.scope === 'backend' || e.scope === 'protocol'))) this.clearStartTimer();
    if (e.type === 'run' && e.run.phase === 'failed' && e.run.backendLost) queueMicrotask(() => this.restartWorker(e.run.message ?? 'the run failed'));
  }

  /**
   * The backend died with the run (wasm out of memory or aborted: every later call fails at once): a new worker on the
   * same backend choice, the teacher loaded again, and a notice that says what happened and that Start works again.
   */
  private restartWorker(why: string): void {
    this.reconnect(this.store.getState().backendChoice);
    this.store.getState().set({
      notice: `The run failed: ${why.replace(/\. The \w+ backend cannot go on after this.*$/, '')}. The worker was restarted and the teacher loaded again, so Start works again: lower the batch or micro-batch first.`,
    });
  }

  private clearStartTimer(): void {
    if (this.startTimer !== null) clearTimeout(this.startTimer);
    this.startTimer = null;
  }

  /** A backend start that never ends (seen: over 9 minutes on "starting the backend…") gives way to the next one. */
  private watchStart(choice: BackendChoice): void {
    this.clearStartTimer();
    const limit = this.deps.backendStartLimitMs ?? BACKEND_START_LIMIT_MS;
    this.startTimer = setTimeout(() => {
      this.startTimer = null;
      const seconds = Math.round(limit / 1000);
      const what = choice === 'auto' ? 'The backend chosen automatically' : `The ${choice} backend`;
      const next = fallbackFor(choice);
      if (!next) {
        this.store.getState().set({ backendError: `${what.toLowerCase()} did not start within ${seconds} s. Fix: reload the page` });
        return;
      }
      this.setBackend(next);
      this.store.getState().set({ notice: `${what} did not start within ${seconds} s, so the worker was restarted on ${next}.` });
    }, limit);
  }

  get store(): StudioStore {
    return this.deps.store;
  }

  /** Starts the backend, reads the built-in list and loads the teacher from the URL or the default one. */
  async boot(): Promise<void> {
    const s = this.store.getState();
    this.sendInit(s.backendChoice);
    this.client.send({ type: 'configure', view: { heunSteps: s.settings.heunSteps } });
    let index: BuiltinIndex;
    try {
      index = parseIndex(await this.deps.fetchJson(this.deps.siteUrl('teachers/index.json')));
    } catch (e) {
      this.store.getState().set({ builtinsError: `the built-in teacher list could not be read (teachers/index.json: ${e instanceof Error ? e.message : String(e)}); drop a model file instead` });
      return;
    }
    const wanted = s.teacherId;
    const known = wanted !== null && index.teachers.some((t) => t.id === wanted);
    const problems = wanted !== null && !known ? [`URL parameter teacher=${wanted} ignored: no built-in teacher has that id; the default is loaded`] : [];
    this.store.getState().set({ builtins: index, urlProblems: [...this.store.getState().urlProblems, ...problems] });
    this.selectBuiltin(known ? wanted! : index.default);
  }

  selectBuiltin(id: string): void {
    const index = this.store.getState().builtins;
    const entry = index?.teachers.find((t) => t.id === id);
    if (!entry) return;
    this.droppedTeacher = null;
    // loading from now (the worker says so too once it gets to it): the card and Start wait
    this.store.getState().set({ teacherId: id, teacherError: null, teacherLoading: { kind: 'builtin', id } });
    this.client.send({ type: 'load-teacher', source: { kind: 'builtin', id, url: this.deps.siteUrl(`teachers/${entry.file}`) } });
  }

  /** Loads dropped teacher files; a bare state dict takes `precond` (absent: EDM's, which the card says was assumed). */
  dropTeacher(files: InputFile[], precond?: PrecondType): void {
    this.droppedTeacher = files.map((f) => ({ name: f.name, bytes: f.bytes.slice() }));
    this.droppedPrecond = precond;
    this.store.getState().set({ teacherError: null, teacherLoading: { kind: 'files', names: files.map((f) => f.name), ...(precond ? { precond } : {}) } });
    this.client.send({ type: 'load-teacher', source: { kind: 'files', files, ...(precond ? { precond } : {}) } });
  }

  /** Loads the dropped state dict again with another preconditioning (the teacher card's selector). */
  setTeacherPrecond(precond: PrecondType): void {
    if (this.droppedTeacher) this.dropTeacher(this.droppedTeacher, precond);
  }

  /** The class a class-conditional teacher's sample grids show (null: every class in turn). */
  setSampleClass(classIndex: number | null): void {
    this.store.getState().set({ sampleClass: classIndex });
    this.client.send({ type: 'sample-class', classIndex });
  }

  /** A problem found before the files reach the worker (they could not be read). */
  teacherFileProblem(message: string): void {
    this.store.getState().set({ teacherError: message });
  }

  start(): void {
    const st = this.store.getState();
    st.pinSettings();
    this.lastHeun = st.settings.heunSteps;
    const chosen = this.store.getState().settings;
    this.client.send({ type: 'start', settings: runSettingsOf(chosen), view: { heunSteps: chosen.heunSteps } });
  }

  private sendInit(backend: BackendChoice): void {
    const seconds = this.store.getState().checkpointSeconds;
    this.client.send({ type: 'init', backend, ...(seconds ? { checkpointSeconds: seconds } : {}) });
    this.watchStart(backend);
  }

  /** Continues the run saved in this browser (a built-in teacher is fetched again from this site). */
  resumeSaved(): void {
    const s = this.store.getState();
    const saved = s.savedRun;
    if (!saved) return;
    let teacherUrl: string | null = null;
    if (saved.teacherSource.kind === 'builtin') {
      const id = saved.teacherSource.id;
      const entry = s.builtins?.teachers.find((t) => t.id === id);
      if (entry) teacherUrl = this.deps.siteUrl(`teachers/${entry.file}`);
    }
    this.droppedTeacher = null;
    s.set({ savedRunError: null, notice: null });
    this.client.send({ type: 'resume-saved', teacherUrl });
  }

  /** The page is being hidden (a tab switch, a sleeping laptop, a close): a running distillation saves now. */
  pageHidden(): void {
    if (this.store.getState().run.phase === 'training') this.client.send({ type: 'save-now' });
  }

  discardSaved(): void {
    this.client.send({ type: 'discard-saved' });
  }

  dismissNotice(): void {
    this.store.getState().set({ notice: null });
  }

  /** The Sweep panel: one run per value of `key`, the panel's other settings shared (the worker checks the values first). */
  startSweep(key: RunSettingKey, values: string[]): void {
    const s = this.store.getState();
    s.set({ sweep: { ...s.sweep, error: null } });
    this.client.send({ type: 'sweep-start', key, values, settings: runSettingsOf(s.settings) });
  }

  sweepCommand(type: 'sweep-pause' | 'sweep-resume' | 'sweep-stop'): void { this.client.send({ type }); }

  /** Saves a file the page made (the sweep's CSV, chart and students). */
  saveFile(fileName: string, blob: Blob): void { this.deps.download(fileName, blob); }

  pause(): void { this.client.send({ type: 'pause' }); }
  resume(): void { this.client.send({ type: 'resume' }); }
  stop(): void { this.client.send({ type: 'stop' }); }

  async downloadStudent(format: 'safetensors' | 'pytorch' = 'safetensors'): Promise<void> {
    try {
      const { fileName, bytes } = await this.client.exportStudent(format);
      this.deps.download(fileName, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      this.store.getState().set({ exportError: null });
    } catch (e) {
      this.store.getState().set({ exportError: e instanceof Error ? e.message : String(e) });
    }
  }

  /** "Run on your GPUs": the loaded teacher and the settings Start would use, as a zip to run under torchrun (worker/run-zip.ts). */
  async downloadRun(): Promise<void> {
    try {
      const { fileName, bytes } = await this.client.exportRun(runSettingsOf(this.store.getState().settings));
      this.deps.download(fileName, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
      this.store.getState().set({ exportError: null });
    } catch (e) {
      this.store.getState().set({ exportError: `Run on your GPUs: ${e instanceof Error ? e.message : String(e)}` });
    }
  }

  downloadCsv(): void {
    const s = this.store.getState();
    const name = `${s.teacherId ?? 'teacher'}-pid-loss-${s.run.step}steps.csv`;
    this.deps.download(name, new Blob([lossCsv(s.metrics, s.evals, LOSS_SMOOTHING)], { type: 'text/csv' }));
  }

  downloadPng(): void {
    const canvas = this.canvas;
    if (!canvas) return;
    const s = this.store.getState();
    const who = s.shown === 'opened' && s.opened ? 'opened-student' : `step${s.liveView?.step ?? 0}`;
    canvas.toBlob((blob) => {
      if (blob) this.deps.download(`${s.teacherId ?? 'teacher'}-samples-${who}.png`, blob);
    }, 'image/png');
  }

  /** The loaded built-in teacher's shipped student (public/students/), opened as a dropped one would be. */
  openBuiltinStudent(): Promise<void> {
    const s = this.store.getState();
    const entry = s.builtins?.teachers.find((t) => t.id === s.teacherId);
    if (!entry?.student) return Promise.resolve();
    return this.openStudent({ kind: 'builtin', id: entry.id, url: this.deps.siteUrl(`students/${entry.student.file}`) });
  }

  /** A new run that starts from the opened student's weights (it must be of the loaded teacher). */
  continueFromOpened(): void {
    const st = this.store.getState();
    st.pinSettings();
    const chosen = this.store.getState().settings;
    this.lastHeun = chosen.heunSteps;
    this.client.send({ type: 'start', settings: runSettingsOf(chosen), view: { heunSteps: chosen.heunSteps }, from: 'opened-student' });
  }

  async openStudent(files: InputFile[] | { kind: 'builtin'; id: string; url: string }): Promise<void> {
    this.store.getState().set({ openError: null });
    try {
      const { student, view } = await this.client.openStudent(files);
      this.store.getState().set(openedStudent(this.store.getState(), student, view));
    } catch (e) {
      this.store.getState().set({ openError: e instanceof Error ? e.message : String(e) });
    }
  }

  /**
   * The Backend select: `how` 'now' for a pick with the mouse, 'settle' for a keyboard step (ArrowDown), which
   * applies once the changes stop (or on commitBackend: blur, Enter), so the worker restarts once, not per step.
   */
  chooseBackend(choice: BackendChoice, how: 'now' | 'settle'): void {
    this.backendSwitch.change(choice, how);
  }

  commitBackend(): void {
    this.backendSwitch.flush();
  }

  /** A new backend needs a new worker: the old one (and its run) goes, the teacher is loaded again. */
  setBackend(choice: BackendChoice): void {
    if (choice === this.store.getState().backendChoice) return;
    this.reconnect(choice);
  }

  /** A new worker on `choice`, the teacher loaded again (the old worker and whatever it held go). */
  private reconnect(choice: BackendChoice): void {
    const s = this.store.getState();
    this.clearStartTimer();
    this.unsubscribeClient();
    this.client.close();
    s.setBackendChoice(choice);
    const { client, unsubscribe } = this.connect();
    this.client = client;
    this.unsubscribeClient = unsubscribe;
    const now = this.store.getState();
    this.sendInit(choice);
    this.client.send({ type: 'configure', view: { heunSteps: now.settings.heunSteps } });
    if (this.droppedTeacher) this.dropTeacher(this.droppedTeacher, this.droppedPrecond);
    else if (now.teacherId) this.selectBuiltin(now.teacherId);
  }

  private scheduleConfigure(): void {
    if (this.configureTimer) clearTimeout(this.configureTimer);
    this.configureTimer = setTimeout(() => {
      this.configureTimer = null;
      const s = this.store.getState();
      if (isRunning(s)) return;
      this.lastHeun = s.settings.heunSteps;
      this.client.send({ type: 'configure', view: { heunSteps: s.settings.heunSteps } });
    }, 300);
  }

  /** The URL holds the teacher, the backend and the settings the user set (all of them once a run started). */
  syncUrl(): void {
    if (!this.deps.writeUrl) return;
    const s = this.store.getState();
    const settings = Object.fromEntries(s.explicit.map((k) => [k, s.settings[k]]));
    this.deps.writeUrl(encodeUrlState({ teacher: s.teacherId, backend: s.backendChoice, settings, checkpointSeconds: s.checkpointSeconds, preset: s.preset }));
  }

  dispose(): void {
    this.clearStartTimer();
    this.backendSwitch.cancel();
    if (this.configureTimer) clearTimeout(this.configureTimer);
    this.unsubscribeClient();
    this.client.close();
  }
}

/** Checks the built-in index's shape (it comes over the network). */
export function parseIndex(value: unknown): BuiltinIndex {
  const v = value as BuiltinIndex;
  if (!v || typeof v !== 'object' || typeof v.default !== 'string' || !Array.isArray(v.teachers)) throw new Error('not a teacher index');
  for (const t of v.teachers) {
    if (!t || typeof t.id !== 'string' || typeof t.file !== 'string' || typeof t.name !== 'string') throw new Error('a teacher entry lacks id, file or name');
  }
  if (!v.teachers.some((t) => t.id === v.default)) throw new Error(`the default teacher '${v.default}' is not in the list`);
  return v;
}

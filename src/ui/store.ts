/**
 * The page's state (zustand, vanilla so that it runs in Node tests): what the worker reported, what the user chose,
 * and the reducer that folds WorkerEvents into it. Components only read it and call its actions.
 */
import { createStore } from 'zustand/vanilla';
import type { BuiltinIndex } from '../core/teachers/builtin';
import { type MemoryLimit, type StepCost, planSettings } from '../core/plan';
import type {
  BackendChoice, BackendInfo, CheckpointStatus, EvalPoint, MemoryReport, MetricPoint, OpenedStudentInfo, RunStatus, StudioSettings,
  SavedRunSummary, StudentView, TeacherInfo, TeacherSource, TeacherView, WorkerEvent,
} from '../worker/protocol';
import { DEFAULT_PRESET, PRESETS, type PresetId, type RunSettings as TableSettings } from '../formats/run-settings';
import { BACKEND_SIZED, type SettingKey, type SettingLayers, resolveSettings } from './settings';
import { type SweepState, idleSweep, reduceSweep } from './sweep-state';

export interface MetricColumns {
  step: number[];
  loss: number[];
  gradNorm: number[];
  stepMs: number[];
  time: number[];
}

export const emptyMetrics = (): MetricColumns => ({ step: [], loss: [], gradNorm: [], stepMs: [], time: [] });

export interface StudioState {
  backendChoice: BackendChoice;
  /** Seconds between checkpoints when the URL sets them (null: the worker's default). */
  checkpointSeconds: number | null;
  backend: BackendInfo | null;
  backendError: string | null;
  builtins: BuiltinIndex | null;
  builtinsError: string | null;
  /** The built-in teacher chosen, or null for a dropped file. */
  teacherId: string | null;
  teacher: TeacherInfo | null;
  teacherLoading: TeacherSource | null;
  /** The last teacher file problem, shown next to the drop zone. */
  teacherError: string | null;
  teacherView: TeacherView | null;
  /** The class a class-conditional teacher's sample grids show; null: every class in turn. */
  sampleClass: number | null;
  settings: StudioSettings;
  /** Settings the user (or the URL) set; the others follow the teacher's recommendation, the backend and the preset. */
  explicit: SettingKey[];
  /** The preset under what the user set: Quick (works in about a minute) or Paper (the reference recipe). */
  preset: PresetId;
  run: RunStatus;
  metrics: MetricColumns;
  /** The worker's tf.memory() at the last metrics message. */
  memory: MemoryReport | null;
  /** A run saved in this browser that the page offers to resume (after a reload). */
  savedRun: SavedRunSummary | null;
  savedRunError: string | null;
  /** The current run's last checkpoint. */
  checkpoint: CheckpointStatus | null;
  /** What the worker told the user that is not an error (a lost GPU and how the run recovered). */
  notice: string | null;
  evals: EvalPoint[];
  liveView: StudentView | null;
  /** An opened student file, sampled against the teacher with sha256 `against` (the one loaded then). */
  opened: OpenedStudent | null;
  openError: string | null;
  exportError: string | null;
  trainingError: string | null;
  /** Which student the sample view shows. */
  shown: 'training' | 'opened';
  busy: string | null;
  /** The teacher's picture being solved ("… Heun step 3 of 18"), which Start does not wait for. */
  viewProgress: string | null;
  /** What a step of the loaded image teacher costs here and the memory a run may take: the plan layer's input. */
  planCost: { cost: StepCost; limit: MemoryLimit } | null;
  urlProblems: string[];
  /** Settings fields whose text does not parse; Start waits until there are none. */
  fieldErrors: Partial<Record<SettingKey, string>>;
  /** The sweep panel's runs (sweep-state.ts). */
  sweep: SweepState;
}

export interface OpenedStudent { info: OpenedStudentInfo; view: StudentView; against: string | null }

export const idleRun = (): RunStatus => ({ phase: 'idle', step: 0, totalSteps: 0, settings: null });

export function initialState(init: {
  backendChoice?: BackendChoice; settings?: Partial<StudioSettings>; teacherId?: string | null; urlProblems?: string[]; checkpointSeconds?: number | null;
  preset?: PresetId;
} = {}): StudioState {
  const explicit = Object.keys(init.settings ?? {}) as SettingKey[];
  const preset = init.preset ?? DEFAULT_PRESET;
  return {
    backendChoice: init.backendChoice ?? 'auto',
    checkpointSeconds: init.checkpointSeconds ?? null,
    backend: null,
    backendError: null,
    builtins: null,
    builtinsError: null,
    teacherId: init.teacherId ?? null,
    teacher: null,
    teacherLoading: null,
    teacherError: null,
    teacherView: null,
    sampleClass: null,
    settings: resolveSettings({ ...resolveSettings({} as StudioSettings, [], { preset, backend: null }), ...init.settings }, explicit, { preset, backend: null }),
    explicit,
    preset,
    run: idleRun(),
    metrics: emptyMetrics(),
    memory: null,
    savedRun: null,
    savedRunError: null,
    checkpoint: null,
    notice: null,
    evals: [],
    liveView: null,
    opened: null,
    openError: null,
    exportError: null,
    trainingError: null,
    shown: 'training',
    busy: null,
    viewProgress: null,
    planCost: null,
    urlProblems: init.urlProblems ?? [],
    fieldErrors: {},
    sweep: idleSweep(),
  };
}

/** Settings after the backend is known: the backend sizes what the user did not set (Quick preset, no teacher advice). */
export function resizeForBackend(settings: StudioSettings, explicit: SettingKey[], backend: BackendInfo | null): StudioSettings {
  return resolveSettings(settings, explicit, { preset: 'quick', backend });
}

/** The built-in teacher's recommended settings, when the loaded teacher is a built-in one that has them. */
export function recommendedFor(s: Pick<StudioState, 'builtins' | 'teacherId'>): Partial<TableSettings> | null {
  return s.builtins?.teachers.find((t) => t.id === s.teacherId)?.recommended ?? null;
}

/** The plan layer (core/plan.ts) for the loaded image teacher on this backend; null before it is measured or for 2D data. */
export function planFor(s: Pick<StudioState, 'planCost' | 'backend'>): Partial<TableSettings> | null {
  if (!s.planCost) return null;
  return planSettings({ ...s.planCost, image: true, software: s.backend?.adapter?.software ?? false });
}

export const layersOf = (s: Pick<StudioState, 'preset' | 'backend' | 'builtins' | 'teacherId' | 'planCost'>): SettingLayers => ({
  preset: s.preset, backend: s.backend, recommended: recommendedFor(s), plan: planFor(s),
});

/** Every setting nobody set, taken anew from the layers (after the backend, the teacher or the preset changed). */
export const settle = (s: StudioState, patch: Partial<StudioState> = {}): StudioSettings => {
  const next = { ...s, ...patch };
  return resolveSettings(next.settings, next.explicit, layersOf(next));
};

export const isRunning = (s: Pick<StudioState, 'run'>) => s.run.phase === 'training' || s.run.phase === 'paused';

/**
 * Appends step metrics. A point whose step is not after the last one means the trainer went back to an earlier
 * state (a restore after repeated non-finite steps): the history from that step on is dropped, so the curves show
 * the run that the weights actually went through.
 */
export function appendMetrics(m: MetricColumns, points: MetricPoint[]): MetricColumns {
  const out: MetricColumns = { step: m.step.slice(), loss: m.loss.slice(), gradNorm: m.gradNorm.slice(), stepMs: m.stepMs.slice(), time: m.time.slice() };
  for (const p of points) {
    const last = out.step.length ? out.step[out.step.length - 1] : 0;
    if (p.step <= last) {
      let keep = out.step.length;
      while (keep > 0 && out.step[keep - 1] >= p.step) keep--;
      for (const col of [out.step, out.loss, out.gradNorm, out.stepMs, out.time]) col.length = keep;
    }
    out.step.push(p.step);
    out.loss.push(p.loss);
    out.gradNorm.push(p.gradNorm);
    out.stepMs.push(p.stepMs);
    out.time.push(p.time);
  }
  return out;
}

/** Folds one worker event into the state (pure: returns the changed fields). */
export function reduceEvent(s: StudioState, e: WorkerEvent): Partial<StudioState> {
  switch (e.type) {
    case 'backend':
      return { backend: e.backend, backendError: null, settings: settle(s, { backend: e.backend }) };
    case 'teacher-loading':
      return { teacherLoading: e.source, teacherError: null };
    case 'teacher': {
      // An opened student was sampled against the teacher loaded then: its paths, path RMSE and "(the loaded
      // teacher)" only hold for that same file (loaded again on a new backend or device).
      const keepOpened = s.opened !== null && s.opened.against === e.teacher.sha256;
      const sameTeacher = s.teacher?.sha256 === e.teacher.sha256;
      const teacherId = e.teacher.source.kind === 'builtin' ? e.teacher.source.id : null;
      return {
        settings: settle(s, { teacherId, planCost: null }),
        planCost: null, memory: null, viewProgress: null,
        teacher: e.teacher, teacherLoading: null, teacherError: null, teacherView: null, liveView: null, sampleClass: null,
        teacherId: e.teacher.source.kind === 'builtin' ? e.teacher.source.id : null,
        run: idleRun(), metrics: emptyMetrics(), evals: [], trainingError: null, exportError: null, checkpoint: null,
        opened: keepOpened ? s.opened : null,
        openError: sameTeacher ? s.openError : null,
        ...(sameTeacher ? {} : { sweep: idleSweep() }),
        shown: keepOpened ? s.shown : 'training',
      };
    }
    case 'teacher-view':
      return { teacherView: e.view };
    case 'run': {
      const fresh = e.run.phase === 'training' && (s.run.phase === 'idle' || s.run.phase === 'stopped' || s.run.phase === 'done' || s.run.phase === 'failed');
      return {
        run: e.run,
        trainingError: e.run.phase === 'failed' ? e.run.message ?? 'the run failed' : fresh ? null : s.trainingError,
        ...(fresh ? { shown: 'training' as const } : {}),
      };
    }
    case 'metrics': {
      const metrics = appendMetrics(s.metrics, e.points);
      const lastStep = metrics.step.length ? metrics.step[metrics.step.length - 1] : 0;
      const rewound = e.points.length > 0 && s.evals.some((v) => v.step > lastStep);
      return { metrics, memory: e.memory, ...(rewound ? { evals: s.evals.filter((v) => v.step <= lastStep) } : {}) };
    }
    case 'history':
      return { metrics: appendMetrics(emptyMetrics(), e.metrics), evals: e.evals.slice(), shown: 'training', trainingError: null };
    case 'saved-run':
      return { savedRun: e.saved, savedRunError: null };
    case 'checkpoint':
      return { checkpoint: e.checkpoint };
    case 'notice':
      return { notice: e.message };
    case 'evaluation': {
      // Step 0 of a run starts a new history.
      const restart = e.point.step === 0;
      return {
        // an evaluation at a step already shown (a restored run) replaces it
        evals: restart ? [e.point] : s.evals.filter((v) => v.step < e.point.step).concat([e.point]),
        liveView: e.view,
        // an earlier failed evaluation is old news once one succeeds (a failed run keeps its reason)
        ...(s.trainingError && s.run.phase !== 'failed' ? { trainingError: null } : {}),
        ...(restart ? { metrics: emptyMetrics(), exportError: null, shown: 'training' as const } : {}),
      };
    }
    case 'opened-student':
      return openedStudent(s, e.student, e.view);
    case 'student-file':
    case 'run-zip':
      return { exportError: null };
    case 'sweep':
    case 'sweep-run':
      return { sweep: reduceSweep(s.sweep, e) };
    case 'busy':
      return { busy: e.task };
    case 'view-progress':
      return { viewProgress: e.task };
    case 'plan-cost': {
      const planCost = e.cost && e.limit ? { cost: e.cost, limit: e.limit } : null;
      return { planCost, settings: settle(s, { planCost }) };
    }
    case 'error':
      switch (e.scope) {
        case 'teacher': return { teacherError: e.message, teacherLoading: null };
        case 'student': return { openError: e.message };
        case 'export': return { exportError: e.message };
        case 'backend': return { backendError: e.message };
        case 'saved-run': return { savedRunError: e.message };
        case 'sweep': return { sweep: { ...s.sweep, error: e.message } };
        // A worker that never came up leaves no backend: say so where the backend is shown too. A crashed worker
        // finishes nothing it was busy with (one that lives on sends its own busy and teacher events again).
        case 'protocol': return { trainingError: e.message, busy: null, teacherLoading: null, ...(s.backend ? {} : { backendError: e.message }) };
        default: return { trainingError: e.message };
      }
  }
}

/** The state after a student file was opened and sampled against the loaded teacher. */
export function openedStudent(s: Pick<StudioState, 'teacher'>, info: OpenedStudentInfo, view: StudentView): Partial<StudioState> {
  return { opened: { info, view, against: s.teacher?.sha256 ?? null }, openError: null, shown: 'opened' };
}

/** The name a teacher being loaded goes by: the built-in list's name, else the id or the file names. */
export function loadingName(s: Pick<StudioState, 'builtins'>, source: TeacherSource): string {
  if (source.kind === 'files') return source.names.join(' + ');
  return s.builtins?.teachers.find((t) => t.id === source.id)?.name ?? source.id;
}

/**
 * What the page waits for before a run can start, in words ("loading the teacher Two moons"), or null: the backend
 * starting, a teacher loading, or the worker busy (solving the teacher's ODE for the views). Start waits for it.
 */
export function waitingFor(s: Pick<StudioState, 'backend' | 'backendError' | 'teacherLoading' | 'busy' | 'builtins'>): string | null {
  if (!s.backend) return s.backendError ? null : 'starting the backend';
  if (s.teacherLoading) return `loading the teacher ${loadingName(s, s.teacherLoading)}`;
  return s.busy;
}

/**
 * What the sample view waits for instead of drawing, or null: a teacher loading (the view shown would be the old
 * teacher's), or a loaded teacher whose view is being computed.
 */
export function viewWaiting(s: Pick<StudioState, 'backend' | 'backendError' | 'teacherLoading' | 'busy' | 'viewProgress' | 'builtins' | 'teacher' | 'teacherView'>): string | null {
  if (s.teacherLoading) return `Loading the teacher ${loadingName(s, s.teacherLoading)}`;
  if (!s.backend && !s.backendError) return 'Starting the backend';
  const task = s.viewProgress ?? s.busy;
  if (s.teacher && !s.teacherView && task) return task.charAt(0).toUpperCase() + task.slice(1);
  return null;
}

export interface StudioActions {
  apply(e: WorkerEvent): void;
  setSetting<K extends SettingKey>(key: K, value: StudioSettings[K]): void;
  /** Back to the batch/steps/K that suit the backend (and the teacher). */
  resetSizing(): void;
  /** A preset under what the user set; its own keys are no longer explicit. */
  setPreset(id: PresetId): void;
  /** All settings become explicit (at Start: the URL then holds the whole run). */
  pinSettings(): void;
  setBackendChoice(choice: BackendChoice): void;
  setFieldError(key: SettingKey, error: string | null): void;
  set(patch: Partial<StudioState>): void;
}

export type StudioStore = ReturnType<typeof createStudioStore>;

export function createStudioStore(init?: Parameters<typeof initialState>[0]) {
  return createStore<StudioState & StudioActions>()((set, get) => ({
    ...initialState(init),
    apply: (e) => set(reduceEvent(get(), e)),
    setSetting: (key, value) => {
      const s = get();
      set({ settings: { ...s.settings, [key]: value }, explicit: s.explicit.includes(key) ? s.explicit : [...s.explicit, key] });
    },
    resetSizing: () => {
      const s = get();
      const explicit = s.explicit.filter((k) => !BACKEND_SIZED.includes(k));
      set({ explicit, settings: settle(s, { explicit }) });
    },
    setPreset: (id) => {
      const s = get();
      const fixed = Object.keys(PRESETS[id].values);
      const explicit = s.explicit.filter((k) => !fixed.includes(k));
      set({ preset: id, explicit, settings: settle(s, { preset: id, explicit }) });
    },
    pinSettings: () => set({ explicit: Object.keys(get().settings) as SettingKey[] }),
    setBackendChoice: (choice) => set({
      backendChoice: choice, backend: null, backendError: null, run: idleRun(), metrics: emptyMetrics(), evals: [],
      liveView: null, teacher: null, teacherView: null, memory: null, checkpoint: null, notice: null, trainingError: null, exportError: null, busy: null,
      planCost: null, viewProgress: null,
    }),
    setFieldError: (key, error) => {
      const { [key]: _old, ...rest } = get().fieldErrors;
      set({ fieldErrors: error ? { ...rest, [key]: error } : rest });
    },
    set: (patch) => set(patch),
  }));
}

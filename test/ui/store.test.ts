import { describe, expect, it } from 'vitest';
import {
  type StudioState, appendMetrics, createStudioStore, emptyMetrics, initialState, reduceEvent, resizeForBackend, viewWaiting, waitingFor,
} from '../../src/ui/store';
import type { BackendInfo, OpenedStudentInfo, StudentView, TeacherInfo, TeacherView, WorkerEvent } from '../../src/worker/protocol';

const gpu: BackendInfo = { asked: 'auto', got: 'webgpu', adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: '', isFallbackAdapter: true, software: true } };
const teacher: TeacherInfo = {
  source: { kind: 'builtin', id: 'moons-mlp' }, name: 'moons', fileName: 'moons-mlp.safetensors', networkType: 'mlp', architecture: 'mlp', labelDim: 0, precond: 'edm', precondAssumed: false, precondChoosable: false, trainedSigmas: null, weightsTaken: null, parameterCount: 100,
  components: null, networkDetails: [], dataShape: [2], dataRange: [-1, 1], sigmaMin: 0.002, sigmaMax: 80, sigmaData: 0.5, rho: 7, sha256: 'a'.repeat(64),
};
const view = (step: number): StudentView => ({ source: 'training', step, weights: 'ema', dataShape: [2], dataRange: [-1, 1], samples: new Float32Array(4), count: 2, paths: null, error: null });
const err = { rmsePath: 1, rmseEnd: 1, relEnd: 1 };

function fold(events: WorkerEvent[], init = {}) {
  const store = createStudioStore(init);
  for (const e of events) store.getState().apply(e);
  return store.getState();
}

describe('the studio store', () => {
  it('the backend report sizes what the user did not set', () => {
    const s = fold([{ type: 'backend', backend: gpu }], { settings: { steps: 99 } });
    expect(s.backend).toBe(gpu);
    expect(s.settings.batch).toBe(32); // software WebGPU
    expect(s.settings.steps).toBe(99); // set in the URL: kept
    expect(s.explicit).toEqual(['steps']);
  });

  it('folds a run: metrics append, evaluations restart at step 0, the phase follows', () => {
    const s = fold([
      { type: 'teacher', teacher },
      { type: 'evaluation', point: { step: 0, raw: err, ema: err }, view: view(0) },
      { type: 'run', run: { phase: 'training', step: 0, totalSteps: 4, settings: null } },
      { type: 'metrics', points: [1, 2].map((step) => ({ step, loss: 1 / step, gradNorm: 1, stepMs: 5, time: step * 5, lr: 0.01 })), memory: { numTensors: 10, numBytes: 4 * 10 } },
      { type: 'metrics', points: [3].map((step) => ({ step, loss: 1 / step, gradNorm: 1, stepMs: 5, time: step * 5, lr: 0.01 })), memory: { numTensors: 10, numBytes: 4 * 10 } },
      { type: 'evaluation', point: { step: 3, raw: err, ema: err }, view: view(3) },
    ]);
    expect(s.metrics.step).toEqual([1, 2, 3]);
    expect(s.metrics.loss[2]).toBeCloseTo(1 / 3);
    expect(s.evals.map((e) => e.step)).toEqual([0, 3]);
    expect(s.liveView?.step).toBe(3);
    expect(s.teacherId).toBe('moons-mlp');
    expect(s.run.phase).toBe('training');
    expect(s.memory).toEqual({ numTensors: 10, numBytes: 40 });
    // a new run's step-0 evaluation clears the old history
    const again = reduceEvent(s, { type: 'evaluation', point: { step: 0, raw: err, ema: err }, view: view(0) });
    expect(again.metrics?.step).toEqual([]);
    expect(again.evals?.map((e) => e.step)).toEqual([0]);
  });

  it('routes each error to where it is shown', () => {
    const s0 = initialState();
    expect(reduceEvent(s0, { type: 'error', scope: 'teacher', message: 'x.safetensors: bad' })).toMatchObject({ teacherError: 'x.safetensors: bad', teacherLoading: null });
    expect(reduceEvent(s0, { type: 'error', scope: 'student', message: 'm' })).toEqual({ openError: 'm' });
    expect(reduceEvent(s0, { type: 'error', scope: 'export', message: 'm' })).toEqual({ exportError: 'm' });
    expect(reduceEvent(s0, { type: 'error', scope: 'backend', message: 'm' })).toEqual({ backendError: 'm' });
    expect(reduceEvent(s0, { type: 'error', scope: 'training', message: 'm' })).toEqual({ trainingError: 'm' });
    expect(reduceEvent(s0, { type: 'error', scope: 'protocol', message: 'crashed' })).toEqual({ trainingError: 'crashed', backendError: 'crashed', busy: null, teacherLoading: null });
    expect(reduceEvent(s0, { type: 'run', run: { phase: 'failed', step: 7, totalSteps: 9, settings: null, message: 'diverged' } })).toMatchObject({ trainingError: 'diverged' });
  });

  it('a new teacher resets the run; a teacher file error keeps the loaded teacher', () => {
    const s = fold([
      { type: 'teacher', teacher },
      { type: 'metrics', points: [{ step: 1, loss: 1, gradNorm: 1, stepMs: 1, time: 1, lr: 0.01 }], memory: { numTensors: 1, numBytes: 4 * 1 } },
      { type: 'error', scope: 'teacher', message: 'broken.safetensors: no' },
    ]);
    expect(s.teacher).toBe(teacher);
    expect(s.teacherError).toBe('broken.safetensors: no');
    const t2 = reduceEvent(s, { type: 'teacher', teacher: { ...teacher, source: { kind: 'files', names: ['a.safetensors'] } } });
    expect(t2).toMatchObject({ teacherId: null, teacherError: null, liveView: null, run: { phase: 'idle' } });
    expect(t2.metrics?.step).toEqual([]);
  });

  it('an opened student is shown until a new run starts', () => {
    const opened = { ...view(40), source: 'opened' as const };
    let s = fold([{ type: 'opened-student', requestId: 1, student: { fileName: 'f', name: 'n', teacherName: 't', teacherSha256: 'a'.repeat(64), matchesTeacher: true, networkType: 'mlp', parameterCount: 1, dataShape: [2], pid: { N: 250, loss: 'l2', optimizer: 'radam', lr: 1, batch: 1, steps: 40, ema: 0, seed: 0 } }, view: opened }]);
    expect(s.shown).toBe('opened');
    s = { ...s, ...reduceEvent(s, { type: 'run', run: { phase: 'training', step: 0, totalSteps: 3, settings: null } }) };
    expect(s.shown).toBe('training');
  });

  it('actions: a setting becomes explicit; Start pins all; the backend sizing can be restored', () => {
    const store = createStudioStore();
    store.getState().apply({ type: 'backend', backend: gpu });
    store.getState().setSetting('batch', 500);
    expect(store.getState().explicit).toEqual(['batch']);
    store.getState().resetSizing();
    expect(store.getState().settings.batch).toBe(32);
    expect(store.getState().explicit).toEqual([]);
    store.getState().pinSettings();
    expect(store.getState().explicit.sort()).toEqual(Object.keys(store.getState().settings).sort());
    store.getState().setFieldError('lr', 'bad');
    expect(store.getState().fieldErrors).toEqual({ lr: 'bad' });
    store.getState().setFieldError('lr', null);
    expect(store.getState().fieldErrors).toEqual({});
    store.getState().setBackendChoice('cpu');
    expect(store.getState()).toMatchObject({ backendChoice: 'cpu', backend: null, teacher: null, run: { phase: 'idle' } });
  });

  it('resizeForBackend keeps explicit keys', () => {
    const s = resizeForBackend({ ...initialState().settings, batch: 7, steps: 8 }, ['batch'], { asked: 'auto', got: 'cpu', adapter: null });
    expect(s.batch).toBe(7);
    expect(s.steps).toBe(200);
  });

  it('a restore of an earlier state rewinds the history to that step', () => {
    const pt = (step: number, loss = step) => ({ step, loss, gradNorm: 1, stepMs: 1, time: step, lr: 0.01 });
    const m = appendMetrics(appendMetrics(emptyMetrics(), [1, 2, 3, 4].map((i) => pt(i))), [pt(3, 30), pt(4, 40)]);
    expect(m.step).toEqual([1, 2, 3, 4]);
    expect(m.loss).toEqual([1, 2, 30, 40]);
    let s = fold([
      { type: 'evaluation', point: { step: 0, raw: err, ema: err }, view: view(0) },
      { type: 'metrics', points: [1, 2, 3, 4].map((i) => pt(i)), memory: { numTensors: 1, numBytes: 4 * 1 } },
      { type: 'evaluation', point: { step: 4, raw: err, ema: err }, view: view(4) },
    ]);
    s = { ...s, ...reduceEvent(s, { type: 'metrics', points: [pt(3, 30)], memory: { numTensors: 1, numBytes: 4 * 1 } }) };
    expect(s.metrics.step).toEqual([1, 2, 3]);
    expect(s.evals.map((e) => e.step)).toEqual([0]);
  });

  it('teacher views are stored as they come', () => {
    const tv = { heunSteps: 4 } as TeacherView;
    expect(reduceEvent(initialState(), { type: 'teacher-view', view: tv })).toEqual({ teacherView: tv });
  });

  describe('stale state after the teacher changes', () => {
    const other: TeacherInfo = { ...teacher, source: { kind: 'builtin', id: 'ring8' }, name: 'ring', sha256: 'b'.repeat(64) };
    const info: OpenedStudentInfo = {
      fileName: 's.safetensors', name: 'student', teacherName: 'moons', teacherSha256: teacher.sha256, matchesTeacher: true, networkType: 'mlp',
      parameterCount: 1, dataShape: [2], pid: { N: 250, loss: 'l2', optimizer: 'radam', lr: 1, batch: 1, steps: 40, ema: 0, seed: 0 },
    };
    const openedView = { ...view(40), source: 'opened' as const, error: err };
    const apply = (s: StudioState, e: WorkerEvent): StudioState => ({ ...s, ...reduceEvent(s, e) });
    const withOpened = () => apply(fold([{ type: 'backend', backend: gpu }, { type: 'teacher', teacher }]), { type: 'opened-student', requestId: 1, student: info, view: openedView });

    it('an opened student is dropped with "(the loaded teacher)" and its path RMSE when another teacher loads', () => {
      const s = withOpened();
      expect(s.opened).toMatchObject({ against: teacher.sha256, info: { matchesTeacher: true } });
      expect(s.shown).toBe('opened');
      const next = apply(s, { type: 'teacher', teacher: other });
      expect(next.opened).toBeNull();
      expect(next.shown).toBe('training');
    });

    it('the same teacher loaded again (a new backend, a lost device) keeps it', () => {
      const s = withOpened();
      const again = apply({ ...s, teacher: null }, { type: 'teacher', teacher: { ...teacher } });
      expect(again.opened).toBe(s.opened);
      expect(again.shown).toBe('opened');
    });

    it("an old error does not stay above a later success: a student error goes with the teacher, a failed evaluation with the next one", () => {
      let s = apply(withOpened(), { type: 'error', scope: 'student', message: 'moons-mlp.safetensors: is a teacher, not a student' });
      expect(s.openError).toMatch(/is a teacher/);
      s = apply(s, { type: 'teacher', teacher: other });
      expect(s.openError).toBeNull();
      s = apply(s, { type: 'run', run: { phase: 'training', step: 3, totalSteps: 9, settings: null } });
      s = apply(s, { type: 'error', scope: 'training', message: 'evaluating the student failed: x' });
      expect(s.trainingError).toMatch(/evaluating/);
      s = apply(s, { type: 'evaluation', point: { step: 6, raw: err, ema: err }, view: view(6) });
      expect(s.trainingError).toBeNull();
      // the reason a run failed stays
      s = apply(s, { type: 'run', run: { phase: 'failed', step: 7, totalSteps: 9, settings: null, message: 'diverged' } });
      s = apply(s, { type: 'evaluation', point: { step: 7, raw: err, ema: err }, view: view(7) });
      expect(s.trainingError).toBe('diverged');
    });
  });

  describe('loading state', () => {
    const builtins = { default: 'moons-mlp', teachers: [{ id: 'moons-mlp', file: 'm.safetensors', name: 'Two moons', description: '' }] };

    it('the page waits for the backend, the teacher, then the view; the card and the sample view agree', () => {
      let s: StudioState = { ...initialState(), builtins };
      const step = (e: WorkerEvent) => { s = { ...s, ...reduceEvent(s, e) }; };
      expect(waitingFor(s)).toBe('starting the backend');
      expect(viewWaiting(s)).toBe('Starting the backend');
      step({ type: 'backend', backend: gpu });
      expect(waitingFor(s)).toBeNull();
      expect(viewWaiting(s)).toBeNull();
      step({ type: 'teacher-loading', source: { kind: 'builtin', id: 'moons-mlp' } });
      expect(waitingFor(s)).toBe('loading the teacher Two moons');
      expect(viewWaiting(s)).toBe('Loading the teacher Two moons');
      step({ type: 'busy', task: 'loading the teacher' });
      step({ type: 'teacher', teacher });
      // the card shows the teacher; the sample view says what the worker is doing, not "No teacher loaded yet"
      expect(s.teacher).toBe(teacher);
      step({ type: 'busy', task: 'sizing the run to this teacher on wasm: timing a PID step of 1 sample' });
      expect(waitingFor(s)).toBe('sizing the run to this teacher on wasm: timing a PID step of 1 sample');
      expect(viewWaiting(s)).toBe('Sizing the run to this teacher on wasm: timing a PID step of 1 sample');
      step({ type: 'busy', task: null });
      // Start does not wait for the picture; the sample view says how far its solution is
      step({ type: 'view-progress', task: "solving the teacher's ODE for its picture: Heun step 3 of 18" });
      expect(waitingFor(s)).toBeNull();
      expect(viewWaiting(s)).toBe("Solving the teacher's ODE for its picture: Heun step 3 of 18");
      step({ type: 'teacher-view', view: { heunSteps: 18 } as TeacherView });
      step({ type: 'view-progress', task: null });
      expect(viewWaiting(s)).toBeNull();
    });

    it('a dropped file is named; a failed load or a crashed worker ends the wait', () => {
      let s: StudioState = { ...initialState(), backend: gpu, teacher };
      s = { ...s, ...reduceEvent(s, { type: 'teacher-loading', source: { kind: 'files', names: ['config.json', 'model.safetensors'] } }) };
      expect(waitingFor(s)).toBe('loading the teacher config.json + model.safetensors');
      const failed = { ...s, ...reduceEvent(s, { type: 'error', scope: 'teacher', message: 'model.safetensors: bad' }) };
      expect(waitingFor(failed)).toBeNull();
      expect(failed.teacher).toBe(teacher); // the loaded one stays
      const busy = { ...s, busy: 'x' };
      const crashed = { ...busy, ...reduceEvent(busy, { type: 'error', scope: 'protocol', message: 'the training worker crashed: x' }) };
      expect(waitingFor(crashed)).toBeNull();
      // no backend and an error: nothing to wait for (the badge says what went wrong)
      expect(waitingFor({ ...initialState(), backendError: 'no' })).toBeNull();
    });
  });
});


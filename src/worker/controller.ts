/**
 * The worker's brain, without the worker: it takes WorkerCommands, runs the training loop and emits WorkerEvents.
 * The worker entry wires it to postMessage; tests drive it directly in Node on the cpu backend.
 *
 * All tfjs work goes through one FIFO lock, so a command (export, sample, open a student) runs between two training
 * steps and never interleaves with one. The loop yields to the event loop after every step, so pause and stop take
 * effect at the next step boundary.
 *
 * Nothing is lost: the run is checkpointed every `checkpointSeconds`, on pause, on stop and at the end (RunKeeper);
 * after a reload the saved run is offered and continues from its step (run-restore.ts); when the GPU device is lost,
 * a new backend is started and the run goes back to its last checkpoint (device-recovery.ts). A chosen teacher is
 * loaded by teacher-loader.ts, and its picture, which gives way to training, is solved by teacher-picture.ts.
 */
import { DeviceRecovery, deviceLostNotice, trainingFailure } from './device-recovery';
import { StudioEngine } from './engine';
import { errorMessage } from './error-message';
import { Lock } from './lock';
import type { BackendChoice, BackendInfo, Emit, ErrorScope, RunPhase, RunStatus, WorkerCommand } from './protocol';
import { runSettingsOf } from './protocol';
import { runSettingsProblems } from '../formats/run-settings';
import { memoryReport } from './memory-report';
import { MetricsBatcher } from './metrics-batcher';
import { RunClock } from './run-clock';
import { RunKeeper } from './run-keeper';
import { runZip } from './run-zip';
import { offerSavedRun, resumeSavedRun } from './run-restore';
import { SweepRunner } from './sweep-runner';
import type { RunStore, SavedRun } from './saved-run';
import { TeacherLoader } from './teacher-loader';
import { TeacherPicture } from './teacher-picture';

export type { Emit } from './protocol';

export interface ControllerDeps {
  emit: Emit;
  /** Starts a tfjs backend and reports what runs. */
  startBackend(choice: BackendChoice): Promise<BackendInfo>;
  /** Fetches a built-in teacher file. */
  fetchBytes(url: string): Promise<Uint8Array>;
  /** Lets queued messages run (a macrotask boundary). */
  yieldToEvents(): Promise<void>;
  now(): number;
  /** Minimum milliseconds between two metrics messages. */
  metricsIntervalMs?: number;
  /** Where runs are saved across reloads (IndexedDB in the worker); without one, checkpoints stay in memory. */
  runStore?: RunStore;
  /** Date.now(), for the saved run's timestamp. */
  wallClock?(): number;
  /** After the device was lost: drops every tensor and backend and starts one again (a new device, or a fallback). */
  restartBackend?(choice: BackendChoice): Promise<BackendInfo>;
  /** Destroys the WebGPU device as a GPU reset would; false when the backend is not webgpu. */
  loseDevice?(): boolean;
  /** "auto" on this machine: the backends worth timing on each teacher (a real GPU and wasm); none or one: no race. */
  autoCandidates?(): string[];
  /** Switches tfjs to a backend that started before (a race candidate) and reports it. */
  useBackend?(name: string): Promise<BackendInfo>;
  /** After a failed step: resolves true when the device turns out to be lost (the loss is reported a moment later). */
  deviceWasLost?(): Promise<boolean>;
}

export const DEFAULT_CHECKPOINT_SECONDS = 30;

export class StudioController {
  engine = new StudioEngine();
  private lock = new Lock();
  private readonly recovery = new DeviceRecovery();
  private loopGeneration = -1;
  private phase: RunPhase = 'idle';
  private readonly metrics: MetricsBatcher;
  private readonly clock: RunClock;
  private backendReady = false;
  private backendChoice: BackendChoice = 'auto';
  private failMessage: string | undefined;
  /** A test's simulated failure of the next step (simulate-backend-failure). */
  private failNextStep: string | null = null;
  /** The last failure killed the backend (wasm out of memory or aborted). */
  private backendLost = false;
  /** The backend that runs, as last reported (its adapter says whether WebGPU is software). */
  private backendInfo: BackendInfo | null = null;
  private checkpointMs = DEFAULT_CHECKPOINT_SECONDS * 1000;
  /** A start is waiting for the lock: a teacher picture being solved stops at its next Heun step. */
  private startPending = false;
  private readonly teacherPicture: TeacherPicture;
  private readonly teacherLoader: TeacherLoader;
  readonly keeper: RunKeeper;
  /** The sweep (one run per value of one setting); it and a single run never go at once. */
  readonly sweeps: SweepRunner;

  constructor(private readonly deps: ControllerDeps) {
    this.teacherPicture = new TeacherPicture({
      engine: () => this.engine,
      emit: (e) => deps.emit(e),
      yieldToEvents: () => deps.yieldToEvents(),
      trainingWaits: () => this.startPending || this.phase === 'training',
    });
    this.teacherLoader = new TeacherLoader({
      emit: (e) => deps.emit(e),
      fetchBytes: (url) => deps.fetchBytes(url),
      engine: () => this.engine,
      freshEngine: () => {
        this.engine.dispose();
        this.engine = new StudioEngine();
      },
      backendChoice: () => this.backendChoice,
      softwareAdapter: () => this.backendInfo?.adapter?.software ?? false,
      reportBackend: (info) => this.reportBackend(info),
      autoCandidates: () => deps.autoCandidates?.() ?? [],
      useBackend: deps.useBackend ? (name) => deps.useBackend!(name) : null,
      drawPicture: () => this.teacherPicture.draw(),
    });
    this.sweeps = new SweepRunner({
      emit: (e, transfer) => deps.emit(e, transfer),
      locked: (fn) => this.lock.run(fn),
      yieldToEvents: () => deps.yieldToEvents(),
      teacherFiles: () => this.teacherLoader.loaded,
      blocked: () => (this.phase === 'training' || this.phase === 'paused' ? 'a distillation is running: stop it before starting a sweep' : null),
    });
    this.clock = new RunClock(() => deps.now());
    this.metrics = new MetricsBatcher(() => deps.now(), deps.metricsIntervalMs ?? 100, (points) => deps.emit({ type: 'metrics', points, memory: memoryReport() }));
    this.keeper = new RunKeeper({
      store: deps.runStore ?? null,
      emit: (e) => deps.emit(e),
      now: () => deps.now(),
      wallClock: () => (deps.wallClock ?? Date.now)(),
    });
  }

  get runPhase(): RunPhase {
    return this.phase;
  }

  /** Handles one command; resolves when it has been dealt with (a start resolves when the run has begun). */
  async handle(cmd: WorkerCommand): Promise<void> {
    switch (cmd.type) {
      case 'init':
        return this.guard('backend', undefined, () => this.lock.run(async () => {
          this.backendChoice = cmd.backend;
          if (cmd.checkpointSeconds !== undefined) this.checkpointMs = cmd.checkpointSeconds * 1000;
          const info = await this.deps.startBackend(cmd.backend);
          this.backendReady = true;
          this.reportBackend(info);
          await offerSavedRun(this.deps.runStore, (e) => this.deps.emit(e));
        }));
      case 'load-teacher':
        return this.guard('teacher', undefined, () => this.lock.run(async () => {
          this.requireBackend();
          if (this.phase === 'training' || this.phase === 'paused') {
            throw new Error('a distillation is running: stop it before changing the teacher');
          }
          if (this.sweeps.active) throw new Error('a sweep is running: stop it before changing the teacher');
          await this.teacherLoader.loadChosen(cmd.source);
          this.setPhase('idle');
        }));
      case 'sample-class':
        return this.guard('teacher', undefined, () => this.lock.run(async () => {
          if (!this.engine.teacherInfo) return;
          this.engine.setSampleClass(cmd.classIndex);
          await this.teacherPicture.draw();
          if (this.engine.hasRun() && this.phase !== 'training') await this.evaluate();
        }));
      case 'configure':
        return this.guard('teacher', undefined, () => this.lock.run(() => this.teacherPicture.setHeunSteps(cmd.view.heunSteps)));
      case 'start':
        this.startPending = true; // the teacher's picture, if it is being solved, gives way at its next Heun step
        this.deps.emit({ type: 'busy', task: 'preparing the run' });
        return this.guard('training', undefined, () => this.lock.run(async () => {
          try {
            await this.startRun(cmd);
          } finally {
            this.deps.emit({ type: 'busy', task: null });
          }
        }));
      case 'pause':
        if (this.phase === 'training') {
          // No new step starts; the one in flight finishes first, then the pause is reported with its final count.
          this.phase = 'paused';
          this.clock.pause();
          await this.guard('training', undefined, () => this.lock.run(async () => {
            this.metrics.flush(true);
            this.emitStatus();
            if (this.phase === 'paused') await this.checkpoint();
          }));
          await this.drawMissingView();
        }
        return;
      case 'resume':
        if (this.phase === 'paused') {
          this.clock.resume(); // the run's clock does not count the pause
          this.setPhase('training');
          void this.loop();
        }
        return;
      case 'stop':
        if (this.phase === 'training' || this.phase === 'paused') {
          this.phase = 'stopped';
          this.clock.pause();
          await this.guard('training', undefined, () => this.lock.run(async () => {
            this.metrics.flush(true);
            this.emitStatus();
            await this.evaluateSafely();
            await this.checkpoint();
          }));
          await this.drawMissingView();
        }
        return;
      case 'sample':
        return this.guard('training', undefined, () => this.lock.run(async () => {
          if (!this.engine.hasRun()) throw new Error('there is no student to sample yet: start a distillation');
          await this.evaluate();
        }));
      case 'export-student':
        return this.guard('export', cmd.requestId, () => this.lock.run(async () => {
          const { fileName, bytes } = await this.engine.exportStudent(cmd.format ?? 'safetensors');
          this.deps.emit({ type: 'student-file', requestId: cmd.requestId, fileName, bytes }, [bytes.buffer as ArrayBuffer]);
        }));
      case 'export-run':
        // in the lock: a teacher being loaded is the one exported
        return this.guard('export', cmd.requestId, () => this.lock.run(async () => {
          const { fileName, bytes } = await runZip(this.teacherLoader.loaded, runSettingsOf(cmd.settings));
          this.deps.emit({ type: 'run-zip', requestId: cmd.requestId, fileName, bytes }, [bytes.buffer as ArrayBuffer]);
        }));
      case 'open-student':
        return this.guard('student', cmd.requestId, () => this.lock.run(async () => {
          this.requireBackend();
          const src = cmd.source;
          const files = src.kind === 'files' ? src.files : [{ name: src.url.split('/').pop() || `${src.id}.safetensors`, bytes: await this.deps.fetchBytes(src.url) }];
          const { info, view } = await this.engine.openStudent(files);
          this.deps.emit({ type: 'opened-student', requestId: cmd.requestId, student: info, view });
        }));
      case 'resume-saved':
        return this.guard('saved-run', undefined, () => this.lock.run(async () => {
          this.requireBackend();
          if (this.phase === 'training' || this.phase === 'paused') throw new Error('a distillation is running: stop it before resuming the saved one');
          if (this.sweeps.active) throw new Error('a sweep is running: stop it before resuming the saved distillation');
          await resumeSavedRun(this.deps.runStore, cmd.teacherUrl, {
            emit: (e, transfer) => this.deps.emit(e, transfer),
            fetchBytes: (url) => this.deps.fetchBytes(url),
            setHeunSteps: (heunSteps) => { this.teacherPicture.heunSteps = heunSteps; },
            loadTeacher: async (teacher) => {
              await this.teacherLoader.load(teacher);
              return this.engine.teacherInfo!.sha256;
            },
            setPhase: (phase) => this.setPhase(phase),
            restore: (saved, phase) => this.restore(saved, phase),
          });
        }));
      case 'save-now':
        if (this.phase === 'training') {
          await this.guard('training', undefined, () => this.lock.run(async () => {
            if (this.phase === 'training') await this.checkpoint();
          }));
        }
        return;
      case 'discard-saved':
        return this.guard('saved-run', undefined, async () => {
          await this.deps.runStore?.clear();
          this.deps.emit({ type: 'saved-run', saved: null });
        });
      case 'simulate-backend-failure':
        this.failNextStep = 'Aborted(). Build with -sASSERTIONS for more info.';
        return;
      case 'simulate-device-loss':
        return this.guard('backend', undefined, async () => {
          if (!this.deps.loseDevice?.()) throw new Error('there is no WebGPU device to lose: the backend is not webgpu');
        });
      case 'sweep-start':
      case 'sweep-pause':
      case 'sweep-resume':
      case 'sweep-stop':
        return this.guard('sweep', undefined, () => this.sweeps.handle(cmd));
    }
  }

  /** A new run: checked, sized to the memory, its student and the teacher's reference made, then the loop started. */
  private async startRun(cmd: Extract<WorkerCommand, { type: 'start' }>): Promise<void> {
    this.startPending = false;
    this.backendLost = false;
    this.requireBackend();
    if (!this.engine.teacherInfo) throw new Error('no teacher is loaded: choose a built-in teacher or drop a model file');
    if (this.sweeps.active) throw new Error('a sweep is running: stop it (or let it finish) before starting a distillation');
    if (this.phase === 'training' || this.phase === 'paused') throw new Error('a distillation is already running');
    const problems = runSettingsProblems(cmd.settings);
    if (problems.length) throw new Error(`the run's settings are not valid: ${problems.join('; ')}`);
    this.teacherPicture.heunSteps = cmd.view.heunSteps; // the picture follows when the run pauses or ends: training does not wait for it
    const settings = runSettingsOf(cmd.settings);
    const micro = this.engine.microBatchFor(settings.batch);
    this.deps.emit({ type: 'busy', task: `preparing the run${micro !== undefined && micro < settings.batch ? ` (batch ${settings.batch} in passes of ${micro})` : ''}: the student, its optimiser and the teacher's ODE on the validation noise` });
    this.engine.startRun(settings, cmd.from === 'opened-student');
    this.keeper.reset();
    this.metrics.clear();
    this.failMessage = undefined;
    this.clock.start();
    await this.evaluate();
    this.phase = 'training';
    this.deps.emit({ type: 'saved-run', saved: null }); // this run replaces the saved one at its first checkpoint
    this.emitStatus();
    void this.loop();
  }

  /** The GPU device is gone: a new backend, the teacher again, and the run from its last checkpoint (device-recovery.ts). */
  async deviceLost(reason: string): Promise<void> {
    if (!this.deps.restartBackend || !this.recovery.begin()) return;
    const restartBackend = this.deps.restartBackend;
    this.lock = new Lock(); // a step stuck on the dead device must not hold up what follows
    const lost = { phase: this.phase, step: this.engine.step, hadRun: this.engine.hasRun() && this.keeper.latest !== null };
    if (lost.phase === 'training') this.phase = 'paused'; // stops the loop until the run is back
    this.metrics.clear();
    this.deps.emit({ type: 'notice', message: deviceLostNotice(reason, lost.step) });
    await this.guard('backend', undefined, () => this.lock.run(() => this.recovery.recover(reason, lost, {
      emit: (e, transfer) => this.deps.emit(e, transfer),
      restartBackend: async () => {
        this.engine = new StudioEngine(); // the old engine's tensors died with the device
        this.backendReady = false;
        const info = await restartBackend(this.backendChoice);
        this.backendReady = true;
        this.reportBackend(info);
        return info;
      },
      reloadTeacher: async () => {
        if (!this.teacherLoader.loaded) return false;
        await this.teacherLoader.load(this.teacherLoader.loaded);
        return true;
      },
      setPhase: (phase) => this.setPhase(phase),
      latestCheckpoint: () => this.keeper.latest!,
      restore: (saved, phase) => this.restore(saved, phase),
      fail: (message) => {
        this.failMessage = message;
        this.setPhase('failed');
      },
    })));
  }

  /** Resolves when every checkpoint queued so far is in the store (tests, and before a page goes away). */
  checkpointsWritten(): Promise<void> {
    return this.keeper.written();
  }

  /** Continues `saved` on the loaded teacher: weights, optimiser, RNG, step, curves and run clock. */
  private async restore(saved: SavedRun, phase: RunPhase): Promise<void> {
    this.engine.restoreRun(saved.settings, saved.checkpoint);
    this.keeper.adopt(saved);
    this.metrics.clear();
    this.failMessage = undefined;
    this.clock.start(saved.elapsedMs, phase !== 'training');
    this.deps.emit({ type: 'history', metrics: this.keeper.metrics.slice(), evals: this.keeper.evals.slice() });
    await this.evaluate();
    this.setPhase(phase);
    if (phase === 'training') void this.loop();
  }

  /** After a run paused or ended: the teacher's picture a Start did not wait for, if it is still missing. */
  private async drawMissingView(): Promise<void> {
    if (!this.teacherPicture.missing) return;
    await this.guard('teacher', undefined, () => this.lock.run(() => this.teacherPicture.draw()));
  }

  /** Reads the state back, keeps it as the run's latest checkpoint and queues its write to storage. */
  private async checkpoint(): Promise<void> {
    const teacher = this.teacherLoader.loaded;
    if (!this.engine.hasRun() || !teacher || this.engine.step === 0) return; // a run that never trained leaves nothing behind
    const started = this.deps.now();
    const bytes = await this.engine.checkpoint();
    const info = this.engine.teacherInfo!;
    this.keeper.keep({
      checkpoint: bytes,
      teacher: { source: info.source, name: info.name, sha256: info.sha256, files: teacher.source.kind === 'files' ? teacher.files : null },
      settings: this.engine.runSettings!,
      view: { heunSteps: this.teacherPicture.heunSteps },
      phase: this.phase,
      step: this.engine.step,
      elapsedMs: this.clock.elapsed(),
      pauseMs: this.deps.now() - started,
    });
  }

  private async guard(scope: ErrorScope, requestId: number | undefined, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.deps.emit({ type: 'error', scope, message: errorMessage(e), ...(requestId !== undefined ? { requestId } : {}) });
    }
  }

  private reportBackend(info: BackendInfo): void {
    this.backendInfo = info;
    this.deps.emit({ type: 'backend', backend: info });
  }

  private requireBackend(): void {
    if (!this.backendReady) throw new Error('the tfjs backend has not started');
  }

  private status(): RunStatus {
    const settings = this.engine.runSettings;
    const faults = this.engine.faults;
    const micro = this.engine.pidRun?.microBatch;
    return {
      phase: this.phase,
      step: this.engine.step,
      totalSteps: settings?.steps ?? 0,
      settings,
      ...(this.failMessage ? { message: this.failMessage } : {}),
      ...(faults && (faults.skippedSteps > 0 || faults.restores > 0) ? { faults } : {}),
      ...(micro !== undefined && settings && micro < settings.batch ? { microBatch: micro } : {}),
      ...(this.backendLost ? { backendLost: true } : {}),
    };
  }

  private setPhase(phase: RunPhase): void {
    this.phase = phase;
    this.emitStatus();
  }

  private emitStatus(): void {
    this.deps.emit({ type: 'run', run: this.status() });
  }

  private async evaluate(): Promise<void> {
    const { raw, ema, view } = await this.engine.evaluate();
    const point = { step: view.step, raw, ema };
    this.keeper.recordEval(point);
    this.deps.emit({ type: 'evaluation', point, view });
  }

  private async evaluateSafely(): Promise<void> {
    try {
      await this.evaluate();
    } catch (e) {
      this.deps.emit({ type: 'error', scope: 'training', message: `evaluating the student failed: ${errorMessage(e)}` });
    }
  }

  /**
   * The training loop: one tick of the run per lock turn (steps up to the next evaluation, or about TICK_MS of them),
   * metrics batched, an evaluation when the run says so, a checkpoint every few seconds.
   */
  private async loop(): Promise<void> {
    if (this.loopGeneration === this.recovery.generation) return;
    const generation = (this.loopGeneration = this.recovery.generation);
    const current = () => generation === this.recovery.generation;
    try {
      while (this.phase === 'training' && current()) {
        const finished = await this.lock.run(async () => {
          if (this.phase !== 'training' || !current()) return true;
          // The trainer skips a step whose loss is not finite, and after repeated faults goes back to its last good
          // state at half the lr (the step count then goes back too), or throws TrainingDiverged (caught below).
          if (this.failNextStep) {
            const message = this.failNextStep;
            this.failNextStep = null;
            throw new Error(message);
          }
          const tick = await this.engine.tick();
          if (!current()) return true;
          for (const m of tick.steps) {
            if (m.skipped) continue;
            const point = { step: m.step, loss: m.loss, gradNorm: m.gradNorm, stepMs: m.stepMs, time: this.clock.elapsed(), lr: m.lr };
            this.metrics.push(point);
            this.keeper.recordStep(point);
          }
          if (tick.steps.some((m) => m.skipped)) {
            this.metrics.flush(true);
            this.emitStatus();
          }
          this.metrics.flush(tick.done || tick.evaluate); // the curve reaches each evaluation's step
          if (tick.evaluate) await this.evaluate();
          if (tick.done) {
            this.phase = 'done';
            this.clock.pause();
            await this.checkpoint();
            this.emitStatus();
            return true;
          }
          if (this.keeper.due(this.checkpointMs)) await this.checkpoint();
          return false;
        });
        if (finished) break;
        await this.deps.yieldToEvents();
      }
      if (this.phase === 'done' && current()) await this.drawMissingView();
    } catch (e) {
      if (!current()) return;
      // A step that failed because the device went away is not a training failure: deviceLost() takes over.
      if (this.deps.deviceWasLost && (await this.deps.deviceWasLost())) return;
      if (!current()) return;
      const failure = trainingFailure(e, this.engine.step);
      this.backendLost = failure.backendLost;
      this.failMessage = failure.message;
      this.metrics.flush(true);
      this.setPhase('failed');
      if (!this.backendLost) await this.drawMissingView();
    } finally {
      if (this.loopGeneration === generation) this.loopGeneration = -1;
      if (current() && this.phase !== 'training') this.metrics.flush(true);
    }
  }
}

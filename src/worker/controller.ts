/**
 * The worker's brain, without the worker: it takes WorkerCommands, runs the training loop and emits WorkerEvents.
 * The worker entry wires it to postMessage; tests drive it directly in Node on the cpu backend.
 *
 * All tfjs work goes through one FIFO lock, so a command (export, sample, open a student) runs between two training
 * steps and never interleaves with one. The loop yields to the event loop after every step, so pause and stop take
 * effect at the next step boundary.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelFileError } from '../formats/errors';
import { StudioEngine } from './engine';
import type { BackendChoice, BackendInfo, ErrorScope, MetricPoint, RunPhase, RunStatus, WorkerCommand, WorkerEvent } from './protocol';

export type Emit = (event: WorkerEvent, transfer?: Transferable[]) => void;

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
}

/** A FIFO async lock. */
export class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export function errorMessage(e: unknown): string {
  if (e instanceof ModelFileError) return e.message;
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s+/g, ' ').trim() || 'unknown error';
}

export class StudioController {
  readonly engine = new StudioEngine();
  private readonly lock = new Lock();
  private phase: RunPhase = 'idle';
  private loopRunning = false;
  private pending: MetricPoint[] = [];
  private lastFlush = 0;
  private runStart = 0;
  private pausedAt = 0;
  private backendReady = false;
  private failMessage: string | undefined;
  private heunSteps = 18;

  constructor(private readonly deps: ControllerDeps) {}

  get runPhase(): RunPhase {
    return this.phase;
  }

  /** Handles one command; resolves when it has been dealt with (a start resolves when the run has begun). */
  async handle(cmd: WorkerCommand): Promise<void> {
    switch (cmd.type) {
      case 'init':
        return this.guard('backend', undefined, () => this.lock.run(async () => {
          const info = await this.deps.startBackend(cmd.backend);
          this.backendReady = true;
          this.deps.emit({ type: 'backend', backend: info });
        }));
      case 'load-teacher':
        return this.guard('teacher', undefined, () => this.lock.run(async () => {
          this.requireBackend();
          if (this.phase === 'training' || this.phase === 'paused') {
            throw new Error('a distillation is running: stop it before changing the teacher');
          }
          const src = cmd.source;
          const source = src.kind === 'builtin' ? { kind: 'builtin' as const, id: src.id } : { kind: 'files' as const, names: src.files.map((f) => f.name) };
          this.deps.emit({ type: 'teacher-loading', source });
          this.deps.emit({ type: 'busy', task: 'loading the teacher and solving its ODE for the views' });
          try {
            let files = src.kind === 'files' ? src.files : null;
            if (src.kind === 'builtin') {
              const name = src.url.split('/').pop() || `${src.id}.safetensors`;
              files = [{ name, bytes: await this.deps.fetchBytes(src.url) }];
            }
            const info = await this.engine.loadTeacher(files!, source);
            this.setPhase('idle');
            this.deps.emit({ type: 'teacher', teacher: info });
            await this.emitTeacherView();
          } finally {
            this.deps.emit({ type: 'busy', task: null });
          }
        }));
      case 'configure':
        return this.guard('teacher', undefined, () => this.lock.run(async () => {
          if (cmd.settings.heunSteps !== this.heunSteps) {
            this.heunSteps = cmd.settings.heunSteps;
            if (this.engine.teacherInfo) await this.emitTeacherView();
          }
        }));
      case 'start':
        return this.guard('training', undefined, () => this.lock.run(async () => {
          this.requireBackend();
          if (!this.engine.teacherInfo) throw new Error('no teacher is loaded: choose a built-in teacher or drop a model file');
          if (this.phase === 'training' || this.phase === 'paused') throw new Error('a distillation is already running');
          if (cmd.settings.heunSteps !== this.heunSteps) {
            this.heunSteps = cmd.settings.heunSteps;
            await this.emitTeacherView();
          }
          this.engine.startRun(cmd.settings);
          this.pending = [];
          this.failMessage = undefined;
          this.runStart = this.deps.now();
          this.lastFlush = 0;
          await this.evaluate();
          this.setPhase('training');
          void this.loop();
        }));
      case 'pause':
        if (this.phase === 'training') {
          // No new step starts; the one in flight finishes first, then the pause is reported with its final count.
          this.phase = 'paused';
          this.pausedAt = this.deps.now();
          await this.lock.run(async () => {
            this.flush(true);
            this.emitStatus();
          });
        }
        return;
      case 'resume':
        if (this.phase === 'paused') {
          // The clock of the run does not count the pause.
          this.runStart += this.deps.now() - this.pausedAt;
          this.setPhase('training');
          void this.loop();
        }
        return;
      case 'stop':
        if (this.phase === 'training' || this.phase === 'paused') {
          this.phase = 'stopped';
          await this.lock.run(async () => {
            this.flush(true);
            this.emitStatus();
            await this.evaluateSafely();
          });
        }
        return;
      case 'sample':
        return this.guard('training', undefined, () => this.lock.run(async () => {
          if (!this.engine.hasRun()) throw new Error('there is no student to sample yet: start a distillation');
          await this.evaluate();
        }));
      case 'export-student':
        return this.guard('export', cmd.requestId, () => this.lock.run(async () => {
          const { fileName, bytes } = await this.engine.exportStudent();
          this.deps.emit({ type: 'student-file', requestId: cmd.requestId, fileName, bytes }, [bytes.buffer as ArrayBuffer]);
        }));
      case 'open-student':
        return this.guard('student', cmd.requestId, () => this.lock.run(async () => {
          this.requireBackend();
          const { info, view } = await this.engine.openStudent(cmd.files);
          this.deps.emit({ type: 'opened-student', requestId: cmd.requestId, student: info, view });
        }));
    }
  }

  private async guard(scope: ErrorScope, requestId: number | undefined, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.deps.emit({ type: 'error', scope, message: errorMessage(e), ...(requestId !== undefined ? { requestId } : {}) });
    }
  }

  private requireBackend(): void {
    if (!this.backendReady) throw new Error('the tfjs backend has not started');
  }

  private async emitTeacherView(): Promise<void> {
    const view = await this.engine.teacherView(this.heunSteps);
    this.deps.emit({ type: 'teacher-view', view });
  }

  private status(): RunStatus {
    const settings = this.engine.runSettings;
    const faults = this.engine.faults;
    return {
      phase: this.phase,
      step: this.engine.step,
      totalSteps: settings?.steps ?? 0,
      settings,
      ...(this.failMessage ? { message: this.failMessage } : {}),
      ...(faults && (faults.skippedSteps > 0 || faults.restores > 0) ? { faults } : {}),
    };
  }

  private setPhase(phase: RunPhase): void {
    this.phase = phase;
    this.emitStatus();
  }

  private emitStatus(): void {
    this.deps.emit({ type: 'run', run: this.status() });
  }

  private flush(force: boolean): void {
    const now = this.deps.now();
    if (!this.pending.length) return;
    if (!force && now - this.lastFlush < (this.deps.metricsIntervalMs ?? 100)) return;
    this.lastFlush = now;
    const points = this.pending;
    this.pending = [];
    this.deps.emit({ type: 'metrics', points, numTensors: tf.memory().numTensors });
  }

  private async evaluate(): Promise<void> {
    const { raw, ema, view } = await this.engine.evaluate();
    this.deps.emit({ type: 'evaluation', point: { step: view.step, raw, ema }, view });
  }

  private async evaluateSafely(): Promise<void> {
    try {
      await this.evaluate();
    } catch (e) {
      this.deps.emit({ type: 'error', scope: 'training', message: `evaluating the student failed: ${errorMessage(e)}` });
    }
  }

  /** The training loop: one step per lock turn, metrics batched, an evaluation every K steps. */
  private async loop(): Promise<void> {
    if (this.loopRunning) return;
    this.loopRunning = true;
    try {
      while (this.phase === 'training') {
        const finished = await this.lock.run(async () => {
          if (this.phase !== 'training') return false;
          const settings = this.engine.runSettings!;
          // The trainer skips a step whose loss is not finite, and after repeated faults goes back to its last good
          // state at half the lr (the step count then goes back too), or throws TrainingDiverged (caught below).
          const m = await this.engine.trainStep();
          if (m.skipped) {
            this.flush(true);
            this.emitStatus();
            return false;
          }
          this.pending.push({ step: m.step, loss: m.loss, gradNorm: m.gradNorm, stepMs: m.stepMs, time: this.deps.now() - this.runStart });
          const done = m.step >= settings.steps;
          this.flush(done);
          if (done || m.step % settings.evalEvery === 0) await this.evaluate();
          if (done) {
            this.setPhase('done');
            return true;
          }
          return false;
        });
        if (finished) break;
        await this.deps.yieldToEvents();
      }
    } catch (e) {
      this.failMessage = `training stopped at step ${this.engine.step}: ${errorMessage(e)}`;
      this.flush(true);
      this.setPhase('failed');
    } finally {
      this.loopRunning = false;
      if (this.phase !== 'training') this.flush(true);
    }
  }
}

/**
 * The studio's sweep: the runs of a core Sweep in sequence, one tick per turn of the controller's FIFO lock (so
 * pause, stop and every other command get in between two ticks), each finished run sent with its student file.
 * The sweep distils its own copy of the loaded teacher, read again from the files the controller keeps.
 */
import { readAnyModel } from '../core/model-import';
import { type Teacher, loadTeacher, studentFileBytes } from '../core/models';
import { Sweep, SweepError, planSweepValues, sweepSetting } from '../core/sweep';
import type { InputFile } from '../formats/model-file';
import type { Emit } from './protocol';
import type { TeacherSource } from './protocol';
import { runSettingsOf } from './protocol';
import { type SweepCommand, type SweepPhase, type SweepStatus, idleSweepStatus } from './sweep-protocol';

/** Milliseconds of steps per tick: pause and stop wait at most about this long. */
const SWEEP_TICK_MS = 200;

export interface SweepRunnerDeps {
  emit: Emit;
  /** Runs `fn` in its turn of the controller's lock. */
  locked<T>(fn: () => Promise<T>): Promise<T>;
  yieldToEvents(): Promise<void>;
  /** The loaded teacher's files, or null when none is loaded. */
  teacherFiles(): { files: InputFile[]; source: TeacherSource } | null;
  /** Why a sweep cannot start now (a distillation is running), or null. */
  blocked(): string | null;
}

const fileSlug = (s: string) => s.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'teacher';

export class SweepRunner {
  private status: SweepStatus = idleSweepStatus();
  private sweep: Sweep | null = null;
  private teacher: Teacher | null = null;
  private looping = false;

  constructor(private readonly deps: SweepRunnerDeps) {}

  get phase(): SweepPhase {
    return this.status.phase;
  }

  /** A sweep is running or paused: a single run, another teacher or a saved run must wait for it. */
  get active(): boolean {
    return this.phase === 'running' || this.phase === 'paused';
  }

  async handle(cmd: SweepCommand): Promise<void> {
    switch (cmd.type) {
      case 'sweep-start':
        return this.deps.locked(() => this.start(cmd));
      case 'sweep-pause':
        if (this.phase !== 'running') return;
        this.status.phase = 'paused';
        return this.deps.locked(async () => this.emit()); // reported after the tick in flight, with its step
      case 'sweep-resume':
        if (this.phase !== 'paused') return;
        this.setPhase('running');
        void this.loop();
        return;
      case 'sweep-stop':
        if (!this.active) return;
        this.status.phase = 'stopped';
        return this.deps.locked(async () => {
          this.release();
          this.emit();
        });
    }
  }

  private async start(cmd: Extract<SweepCommand, { type: 'sweep-start' }>): Promise<void> {
    if (this.active) throw new Error('a sweep is running: stop it before starting another');
    const why = this.deps.blocked();
    if (why) throw new Error(why);
    const loaded = this.deps.teacherFiles();
    if (!loaded) throw new Error('no teacher is loaded: choose a built-in teacher or drop a model file');
    let plan;
    try {
      plan = planSweepValues(sweepSetting(cmd.key), cmd.values, runSettingsOf(cmd.settings));
    } catch (e) {
      if (e instanceof SweepError) throw new Error(e.message.replace(/^--sweep:? ?/, ''));
      throw e;
    }
    const precond = loaded.source.kind === 'files' ? loaded.source.precond : undefined;
    const teacher = loadTeacher(await readAnyModel(loaded.files, precond ? { precond } : {}));
    const base = fileSlug(loaded.source.kind === 'builtin' ? loaded.source.id : teacher.config.name);
    this.release();
    this.teacher = teacher;
    this.sweep = new Sweep(teacher, plan, {
      tickMs: SWEEP_TICK_MS,
      finished: async (run, row, index) => {
        const bytes = await studentFileBytes(run.studentConfig(), run.exportParams());
        const fileName = `${base}-pid-student-${plan.key}-${fileSlug(String(row.value))}.safetensors`;
        this.deps.emit({ type: 'sweep-run', index, row, fileName, bytes }, [bytes.buffer as ArrayBuffer]);
      },
    });
    this.status = {
      phase: 'running', key: plan.key, values: plan.values, index: 0, step: 0, totalSteps: plan.runs[0].steps,
      analytic: teacher.network === null && teacher.config.network.type === 'gaussian-mixture',
    };
    this.emit();
    void this.loop();
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      while (this.phase === 'running') {
        const finished = await this.deps.locked(async () => {
          const sweep = this.sweep;
          if (this.phase !== 'running' || !sweep) return true;
          const t = await sweep.tick();
          const next = sweep.current;
          this.status.index = sweep.runIndex;
          this.status.step = next ? next.step : t.row ? 0 : this.status.step;
          this.status.totalSteps = sweep.plan.runs[Math.min(sweep.runIndex, sweep.plan.runs.length - 1)].steps;
          if (t.done) {
            this.status.phase = 'done';
            this.release();
          }
          this.emit();
          return t.done;
        });
        if (finished) break;
        await this.deps.yieldToEvents();
      }
    } catch (e) {
      this.status.phase = 'failed';
      this.status.message = `the sweep stopped at run ${this.status.index + 1}: ${e instanceof Error ? e.message : String(e)}`;
      this.release();
      this.emit();
    } finally {
      this.looping = false;
    }
  }

  private setPhase(phase: SweepPhase): void {
    this.status.phase = phase;
    this.emit();
  }

  private emit(): void {
    this.deps.emit({ type: 'sweep', sweep: { ...this.status, values: [...this.status.values] } });
  }

  /** Disposes the sweep's runs and its copy of the teacher. */
  private release(): void {
    this.sweep?.dispose();
    this.sweep = null;
    this.teacher?.dispose();
    this.teacher = null;
  }

  dispose(): void {
    this.release();
  }
}

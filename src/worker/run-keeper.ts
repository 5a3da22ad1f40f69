/**
 * Keeps what a run needs to survive a reload or a lost GPU: its curves (the metric and evaluation history, kept in
 * step with restores) and its last checkpoint, in memory and in the RunStore. Writing to the store happens off the
 * training loop: the loop waits only for the state to be read back and serialised.
 */
import type { InputFile } from '../formats/model-file';
import type { CheckpointStatus, EvalPoint, MetricPoint, RunPhase, RunSettings, TeacherSource, ViewSettings, WorkerEvent } from './protocol';
import { type RunStore, SAVED_RUN_VERSION, type SavedRun, packMetrics, unpackMetrics } from './saved-run';

export interface KeeperDeps {
  store: RunStore | null;
  emit(event: WorkerEvent): void;
  now(): number;
  wallClock(): number;
}

export interface CheckpointInput {
  checkpoint: Uint8Array;
  teacher: { source: TeacherSource; name: string; sha256: string; files: InputFile[] | null };
  settings: RunSettings;
  view: ViewSettings;
  phase: RunPhase;
  step: number;
  elapsedMs: number;
  /** Milliseconds the loop spent producing `checkpoint`. */
  pauseMs: number;
}

export class RunKeeper {
  metrics: MetricPoint[] = [];
  evals: EvalPoint[] = [];
  /** The last checkpoint of the current run (what a lost device goes back to). */
  latest: SavedRun | null = null;
  private lastAt = -Infinity;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly deps: KeeperDeps) {}

  /** A new run: no history, no checkpoint. */
  reset(): void {
    this.metrics = [];
    this.evals = [];
    this.latest = null;
    this.lastAt = -Infinity;
  }

  /** Appends a step; a step at or before the last one (a restore went back) first drops the history from there. */
  recordStep(p: MetricPoint): void {
    if (this.metrics.length && p.step <= this.metrics[this.metrics.length - 1].step) this.truncate(p.step - 1);
    this.metrics.push(p);
  }

  recordEval(p: EvalPoint): void {
    this.evals = this.evals.filter((e) => e.step < p.step);
    this.evals.push(p);
  }

  /** Keeps the history up to `step` (inclusive). */
  truncate(step: number): void {
    this.metrics = this.metrics.filter((m) => m.step <= step);
    this.evals = this.evals.filter((e) => e.step <= step);
  }

  /** Takes over a saved run's history and checkpoint (after a reload or a lost device). */
  adopt(run: SavedRun): void {
    this.metrics = unpackMetrics(run.metrics).filter((m) => m.step <= run.step);
    this.evals = run.evals.filter((e) => e.step <= run.step);
    this.latest = run;
    this.lastAt = this.deps.now();
  }

  due(everyMs: number): boolean {
    return this.deps.now() - this.lastAt >= everyMs;
  }

  /** Keeps the checkpoint in memory at once and queues its write to the store; reports when it is written. */
  keep(input: CheckpointInput): void {
    const run: SavedRun = {
      version: SAVED_RUN_VERSION,
      savedAt: this.deps.wallClock(),
      teacher: input.teacher,
      settings: { ...input.settings },
      view: { ...input.view },
      phase: input.phase,
      step: input.step,
      elapsedMs: input.elapsedMs,
      metrics: packMetrics(this.metrics.filter((m) => m.step <= input.step)),
      evals: this.evals.filter((e) => e.step <= input.step),
      checkpoint: input.checkpoint,
    };
    this.latest = run;
    this.lastAt = this.deps.now();
    const status: CheckpointStatus = { step: run.step, savedAt: run.savedAt, bytes: run.checkpoint.byteLength, pauseMs: input.pauseMs, stored: false };
    const store = this.deps.store;
    if (!store) {
      this.deps.emit({ type: 'checkpoint', checkpoint: { ...status, storageError: 'no storage here: the checkpoint is kept in memory only' } });
      return;
    }
    this.writes = this.writes.then(async () => {
      try {
        await store.save(run);
        this.deps.emit({ type: 'checkpoint', checkpoint: { ...status, stored: true } });
      } catch (e) {
        const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        this.deps.emit({ type: 'checkpoint', checkpoint: { ...status, storageError: `the browser refused to store it (${why}); a reload would lose the run` } });
      }
    });
  }

  /** Resolves when every queued write has ended. */
  written(): Promise<void> {
    return this.writes;
  }
}

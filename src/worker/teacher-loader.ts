/**
 * Loading a chosen teacher: its files read (a built-in one fetched), under "auto" the backends raced on it, then the
 * teacher loaded, the run sized to it on this backend, and its picture solved.
 */
import * as tf from '@tensorflow/tfjs-core';
import { memoryLimitFor } from '../core/plan';
import type { InputFile } from '../formats/model-file';
import { type RaceResult, raceBackends, raceReason, timePidSteps } from './backend-race';
import type { StudioEngine } from './engine';
import type { BackendChoice, BackendInfo, Emit, TeacherSource, WorkerCommand } from './protocol';
import type { TeacherFiles } from './run-restore';

export type TeacherChoice = Extract<WorkerCommand, { type: 'load-teacher' }>['source'];

export interface TeacherLoaderDeps {
  emit: Emit;
  fetchBytes(url: string): Promise<Uint8Array>;
  engine(): StudioEngine;
  /** Drops the engine's tensors and makes a new one (before tfjs moves to another backend). */
  freshEngine(): void;
  backendChoice(): BackendChoice;
  /** The GPU adapter is a software one (a smaller memory limit). */
  softwareAdapter(): boolean;
  reportBackend(info: BackendInfo): void;
  /** "auto" on this machine: the backends worth timing on each teacher; none or one: no race. */
  autoCandidates(): string[];
  /** Switches tfjs to a backend that started before (a race candidate); null where there are none. */
  useBackend: ((name: string) => Promise<BackendInfo>) | null;
  /** Solves the teacher's picture (teacher-picture.ts). */
  drawPicture(): Promise<void>;
}

export class TeacherLoader {
  /** The loaded teacher's files, to load it again on a new device and to save a dropped one with the run. */
  loaded: TeacherFiles | null = null;
  /** Race results per teacher (file names and sizes) under "auto". */
  private readonly raced = new Map<string, RaceResult[]>();

  constructor(private readonly deps: TeacherLoaderDeps) {}

  /** The teacher the page chose: read, raced for under "auto", loaded. */
  async loadChosen(choice: TeacherChoice): Promise<void> {
    const chosen = await this.read(choice);
    await this.raceFor(chosen.files);
    await this.load(chosen);
  }

  /**
   * Loads a teacher, sizes the run to it on this backend (an image teacher's steps are timed: the plan and the
   * micro-batch come from that), then solves its ODE for the picture, which a Start does not wait for.
   */
  async load(teacher: TeacherFiles): Promise<void> {
    const { emit } = this.deps;
    emit({ type: 'busy', task: 'loading the teacher' });
    try {
      const info = await this.deps.engine().loadTeacher(teacher.files, teacher.source);
      this.loaded = teacher; // kept: a new device loads it again, a saved run stores a dropped one
      emit({ type: 'teacher', teacher: info });
      const limit = memoryLimitFor(tf.getBackend(), this.deps.softwareAdapter());
      const cost = await this.deps.engine().measureCost(limit, (what) => emit({ type: 'busy', task: `sizing the run to this teacher on ${tf.getBackend()}: ${what}` }));
      emit({ type: 'plan-cost', cost, limit: cost ? limit : null });
    } finally {
      emit({ type: 'busy', task: null });
    }
    await this.deps.drawPicture();
  }

  /** The chosen teacher's files (a built-in one fetched), once the page is told which is loading. */
  private async read(choice: TeacherChoice): Promise<TeacherFiles> {
    if (choice.kind === 'builtin') {
      const source: TeacherSource = { kind: 'builtin', id: choice.id };
      this.deps.emit({ type: 'teacher-loading', source });
      const name = choice.url.split('/').pop() || `${choice.id}.safetensors`;
      return { files: [{ name, bytes: await this.deps.fetchBytes(choice.url) }], source };
    }
    const source: TeacherSource = { kind: 'files', names: choice.files.map((f) => f.name), ...(choice.precond ? { precond: choice.precond } : {}) };
    this.deps.emit({ type: 'teacher-loading', source });
    return { files: choice.files, source };
  }

  /**
   * Under "auto" with several candidates (a real GPU and wasm), times a few PID steps of this teacher on each and
   * moves to the fastest; the answer is kept per teacher for this worker's life, so a teacher is timed once.
   */
  private async raceFor(files: InputFile[]): Promise<void> {
    const candidates = this.deps.autoCandidates();
    const useBackend = this.deps.useBackend;
    if (this.deps.backendChoice() !== 'auto' || candidates.length < 2 || !useBackend) return;
    const key = files.map((f) => `${f.name}:${f.bytes.byteLength}`).join('|');
    let results = this.raced.get(key);
    if (!results) {
      this.deps.emit({ type: 'busy', task: `timing ${candidates.join(' and ')} on this teacher, to train on the faster` });
      try {
        results = await raceBackends(candidates, async (b) => { await useBackend(b); }, () => timePidSteps(files));
      } finally {
        this.deps.emit({ type: 'busy', task: null });
      }
      if (!results.length) return;
      this.raced.set(key, results);
    }
    this.deps.freshEngine(); // the previous teacher's tensors live on the backend that ran before
    const info = await useBackend(results[0].backend);
    this.deps.reportBackend({ ...info, asked: 'auto', reason: raceReason(results) });
  }
}

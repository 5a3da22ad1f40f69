/**
 * The teacher's picture (its ODE samples and paths), solved one Heun step at a time with its progress said. Training
 * comes first: an image teacher's picture, which may take minutes, stops when a Start or a Resume wants the lock.
 */
import type { StudioEngine } from './engine';
import type { Emit } from './protocol';

export interface TeacherPictureDeps {
  engine(): StudioEngine;
  emit: Emit;
  yieldToEvents(): Promise<void>;
  /** A Start is waiting for the lock, or a run is going on. */
  trainingWaits(): boolean;
}

export class TeacherPicture {
  /** The Heun steps the picture is solved with (the View panel's setting). */
  heunSteps = 18;

  constructor(private readonly deps: TeacherPictureDeps) {}

  /** A teacher is loaded and its picture at these Heun steps is not solved yet. */
  get missing(): boolean {
    const engine = this.deps.engine();
    return !!engine.teacherInfo && !engine.teacherViewFor(this.heunSteps);
  }

  /** A new number of Heun steps: the loaded teacher's picture is solved again. */
  async setHeunSteps(heunSteps: number): Promise<void> {
    if (heunSteps === this.heunSteps) return;
    this.heunSteps = heunSteps;
    if (this.deps.engine().teacherInfo) await this.draw();
  }

  /** Solves the picture and sends it, unless it gives way to training first. */
  async draw(): Promise<void> {
    if (this.givesWay()) return;
    try {
      const view = await this.deps.engine().teacherView(this.heunSteps, async (done, total) => {
        this.deps.emit({ type: 'view-progress', task: `solving the teacher's ODE for its picture: Heun step ${done} of ${total}` });
        await this.deps.yieldToEvents();
        return !this.givesWay();
      });
      if (view) this.deps.emit({ type: 'teacher-view', view });
    } finally {
      this.deps.emit({ type: 'view-progress', task: null });
    }
  }

  /** A 2D teacher's picture (points and paths) takes moments and is finished; an image teacher's gives way. */
  private givesWay(): boolean {
    const image = (this.deps.engine().teacherInfo?.dataShape.length ?? 0) === 3;
    return image && this.deps.trainingWaits();
  }
}

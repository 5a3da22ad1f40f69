/**
 * When the backend goes away under a run. A lost GPU device (a reset, a driver crash, a suspended tab, destroy())
 * takes every tensor with it: the worker starts a backend again (a new device, or the next backend that works),
 * loads the teacher again from its kept files and continues the run from its last checkpoint, in the phase it was
 * in. A dead wasm backend (out of memory, aborted) cannot be started again in this worker: the run fails with
 * `backendLost` and the page starts a new worker.
 *
 * A "generation" counter retires whatever was in flight on the dead device: a step that never returns, or returns
 * an error, is ignored once the generation has moved on.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isBackendDead } from '../core/backend';
import { adapterLabel } from './adapter';
import { errorMessage } from './error-message';
import type { BackendInfo, Emit, RunPhase } from './protocol';
import type { SavedRun } from './saved-run';

/** The run as the device left it. */
export interface LostRun {
  phase: RunPhase;
  /** The step it had reached. */
  step: number;
  /** There was a run with a checkpoint to go back to (else the teacher alone is loaded again). */
  hadRun: boolean;
}

/** What recovery asks of the controller, in the order it asks. */
export interface RecoverySteps {
  emit: Emit;
  /** Drops the dead engine and starts a backend again. */
  restartBackend(): Promise<BackendInfo>;
  /** Loads the kept teacher again; false when no teacher was loaded. */
  reloadTeacher(): Promise<boolean>;
  setPhase(phase: RunPhase): void;
  /** The run's latest checkpoint (there is one when the run `hadRun`). */
  latestCheckpoint(): SavedRun;
  /** Continues the run from `saved` in `phase`. */
  restore(saved: SavedRun, phase: RunPhase): Promise<void>;
  /** The run cannot be restored: it fails with this message. */
  fail(message: string): void;
}

export class DeviceRecovery {
  /** Moves on when the device is lost: work of an older generation is ignored. */
  generation = 0;
  private recovering = false;

  /** Starts a recovery and moves the generation on; false while one is already under way. */
  begin(): boolean {
    if (this.recovering) return false;
    this.recovering = true;
    this.generation++;
    return true;
  }

  /** Brings the backend, the teacher and the run back after `begin()`; says on the page what happened. */
  async recover(reason: string, lost: LostRun, steps: RecoverySteps): Promise<void> {
    try {
      const info = await steps.restartBackend();
      if (!(await steps.reloadTeacher())) {
        steps.emit({ type: 'notice', message: `The GPU device was lost (${reason}); now running on ${info.got}.` });
        return;
      }
      if (!lost.hadRun) {
        steps.setPhase('idle');
        steps.emit({ type: 'notice', message: `The GPU device was lost (${reason}); now running on ${info.got}, with the teacher loaded again.` });
        return;
      }
      const saved = steps.latestCheckpoint();
      await steps.restore(saved, lost.phase === 'training' || lost.phase === 'paused' ? lost.phase : saved.phase);
      const redo = Math.max(0, lost.step - saved.step);
      steps.emit({
        type: 'notice',
        message: `The GPU device was lost (${reason}) at step ${lost.step}. Restarted on ${info.got}${info.adapter && info.got === 'webgpu' ? ` (${adapterLabel(info.adapter)})` : ''} `
          + `and went back to the checkpoint of step ${saved.step}: ${redo} step${redo === 1 ? '' : 's'} to redo.`,
      });
    } catch (e) {
      steps.fail(`the GPU device was lost (${reason}) and the run could not be restored: ${errorMessage(e)}`);
    } finally {
      this.recovering = false;
    }
  }
}

/** The notice sent as soon as the device is lost, before anything is started again. */
export const deviceLostNotice = (reason: string, step: number): string => `The GPU device was lost (${reason}) at step ${step}. Starting a new one…`;

/**
 * Why training stopped at `step`, and whether the backend died with it (wasm out of memory or aborted): then the
 * page starts it again in a new worker.
 */
export function trainingFailure(e: unknown, step: number): { message: string; backendLost: boolean } {
  const raw = e instanceof Error ? e.message : String(e);
  const backendLost = isBackendDead(raw);
  const message = `training stopped at step ${step}: ${errorMessage(e)}`
    + (backendLost ? `. The ${tf.getBackend()} backend cannot go on after this: the page starts it again in a new worker and loads the teacher again` : '');
  return { message, backendLost };
}

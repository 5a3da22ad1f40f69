/**
 * The sweep's part of the worker protocol (protocol.ts takes these into its unions): the page asks for one run per
 * value of one setting, the worker reports where the sweep is and each finished run with its student file.
 */
import type { SweepRow } from '../core/sweep';
import type { RunSettingKey, RunSettings } from '../formats/run-settings';

export type SweepPhase = 'idle' | 'running' | 'paused' | 'stopped' | 'done' | 'failed';

export interface SweepStatus {
  phase: SweepPhase;
  key: RunSettingKey | null;
  values: (number | string)[];
  /** The run in progress (values.length once all are done). */
  index: number;
  /** Steps of the run in progress, and its total. */
  step: number;
  totalSteps: number;
  /** The teacher is a Gaussian mixture: each run also records the grid's Euler error. */
  analytic: boolean;
  /** Why the sweep failed. */
  message?: string;
}

export type SweepCommand =
  /** `values` as typed; the worker checks them with the settings table before the first run. */
  | { type: 'sweep-start'; key: RunSettingKey; values: string[]; settings: RunSettings }
  | { type: 'sweep-pause' }
  | { type: 'sweep-resume' }
  | { type: 'sweep-stop' };

export type SweepEvent =
  | { type: 'sweep'; sweep: SweepStatus }
  /** A run ended: its measurements and its student file (the EMA weights when one is kept). */
  | { type: 'sweep-run'; index: number; row: SweepRow; fileName: string; bytes: Uint8Array };

export const SWEEP_COMMAND_TYPES: SweepCommand['type'][] = ['sweep-start', 'sweep-pause', 'sweep-resume', 'sweep-stop'];

export const idleSweepStatus = (): SweepStatus => ({ phase: 'idle', key: null, values: [], index: 0, step: 0, totalSteps: 0, analytic: false });

/** The page's sweep: what the worker reported of it, and the reducer the store's reduceEvent hands sweep events to. */
import type { SweepRow } from '../core/sweep';
import { type SweepEvent, type SweepStatus, idleSweepStatus } from '../worker/sweep-protocol';

export interface SweepRunResult {
  row: SweepRow;
  /** The run's student file, to download. */
  fileName: string;
  bytes: Uint8Array;
}

export interface SweepState {
  status: SweepStatus;
  /** Finished runs by index in the sweep's values (a run not finished yet is absent). */
  runs: SweepRunResult[];
  /** The last refusal or failure, shown in the panel. */
  error: string | null;
}

export const idleSweep = (): SweepState => ({ status: idleSweepStatus(), runs: [], error: null });

export const sweepActive = (s: SweepState) => s.status.phase === 'running' || s.status.phase === 'paused';

export function reduceSweep(s: SweepState, e: SweepEvent): SweepState {
  if (e.type === 'sweep-run') {
    const runs = s.runs.slice();
    runs[e.index] = { row: e.row, fileName: e.fileName, bytes: e.bytes };
    return { ...s, runs };
  }
  // A new sweep (running from its first run, with none finished) starts a new table.
  const fresh = e.sweep.phase === 'running' && e.sweep.index === 0 && e.sweep.step === 0 && !sweepActive(s);
  const error = e.sweep.phase === 'failed' ? e.sweep.message ?? 'the sweep failed' : fresh ? null : s.error;
  return { status: e.sweep, runs: fresh ? [] : s.runs, error };
}

/** The finished rows in value order (gaps of unfinished runs left out). */
export const finishedRuns = (s: SweepState): SweepRunResult[] => s.runs.filter((r): r is SweepRunResult => r !== undefined);

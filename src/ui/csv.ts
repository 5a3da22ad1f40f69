/** The loss history as CSV: one row per training step, the trajectory error on the steps where it was measured. */
import type { EvalPoint } from '../worker/protocol';
import type { MetricColumns } from './store';
import { smooth } from './series';

export const CSV_HEADER = [
  'step', 'loss', 'loss_smoothed', 'grad_norm', 'step_ms', 'time_ms',
  'traj_rmse_path_ema', 'traj_rmse_end_ema', 'traj_rel_end_ema', 'traj_rmse_path_raw', 'traj_rmse_end_raw',
];

const num = (v: number | undefined) => (v === undefined ? '' : String(v));

export function lossCsv(m: MetricColumns, evals: EvalPoint[], smoothing: number): string {
  const byStep = new Map(evals.map((e) => [e.step, e]));
  const smoothed = smooth(m.loss, smoothing);
  const lines = [CSV_HEADER.join(',')];
  const e0 = byStep.get(0);
  if (e0) lines.push(['0', '', '', '', '', '', ...evalCells(e0)].join(','));
  for (let i = 0; i < m.step.length; i++) {
    const e = byStep.get(m.step[i]);
    lines.push([
      m.step[i], num(m.loss[i]), num(smoothed[i]), num(m.gradNorm[i]), num(round3(m.stepMs[i])), num(round3(m.time[i])),
      ...(e ? evalCells(e) : ['', '', '', '', '']),
    ].join(','));
  }
  return `${lines.join('\n')}\n`;
}

function evalCells(e: EvalPoint): string[] {
  return [num(e.ema.rmsePath), num(e.ema.rmseEnd), num(e.ema.relEnd), num(e.raw.rmsePath), num(e.raw.rmseEnd)];
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** The sweep's table as CSV: one row per finished run, in the order of the values; the columns of results.json. */
import type { SweepRow } from '../core/sweep';

export const sweepCsvHeader = (key: string) => [key, 'one_step_relative', 'one_step_rmse', 'trajectory_rmse', 'seconds', 'grid_euler_relative'];

/** A choice value is written as is; none of the table's choices holds a comma or a quote. */
export function sweepCsv(key: string, rows: SweepRow[]): string {
  const lines = [sweepCsvHeader(key).join(',')];
  for (const r of rows) {
    lines.push([String(r.value), r.oneStepRelative, r.oneStepRmse, r.trajectoryRmse, Math.round(r.seconds * 1000) / 1000, r.gridEulerRelative ?? ''].join(','));
  }
  return `${lines.join('\n')}\n`;
}

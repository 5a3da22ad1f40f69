import { formatRelative } from '../../core/format-numbers';
import { useMemo } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStudio } from '../context';
import { LOSS_SMOOTHING } from '../runtime';
import { logTicks, stepTicks } from '../plot';
import { formatNumber, smooth, thinIndices } from '../series';

const MAX_POINTS = 600;
/** Log-axis ticks in the lowest 8 % of the height are left out: their labels would sit on the x axis's. */
const CLEAR_BOTTOM = 0.08;
const AXIS_TICK = { fontSize: 11 };

/** A log-axis domain around the positive values, or null when there are none. */
function logDomain(values: number[]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (v > 0 && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!(lo <= hi)) return null;
  return [lo / 1.3, hi * 1.3];
}

export function LiveCharts() {
  const metrics = useStudio((s) => s.metrics);
  const evals = useStudio((s) => s.evals);

  const loss = useMemo(() => {
    const sm = smooth(metrics.loss, LOSS_SMOOTHING);
    return thinIndices(metrics.loss, MAX_POINTS).map((i) => ({
      step: metrics.step[i],
      raw: metrics.loss[i] > 0 ? metrics.loss[i] : null,
      smoothed: sm[i] > 0 ? sm[i] : null,
    }));
  }, [metrics]);
  const lossDomain = logDomain(metrics.loss);

  const traj = useMemo(() => evals.map((e) => ({
    step: e.step, pathEma: e.ema.rmsePath, endEma: e.ema.rmseEnd, pathRaw: e.raw.rmsePath,
  })), [evals]);
  const trajDomain = logDomain(traj.flatMap((p) => [p.pathEma, p.endEma, p.pathRaw]));
  const last = evals.at(-1);
  const lossMax = metrics.step.at(-1) ?? 0;
  const trajMax = evals.at(-1)?.step ?? 0;

  return (
    <section className="panel" aria-labelledby="live-heading">
      <h2 id="live-heading">Live</h2>
      <div className="charts">
        <figure className="chart" aria-label="PID loss by step, log scale" data-testid="loss-chart" data-points={metrics.loss.length}>
          <figcaption>PID loss (log scale): raw and smoothed</figcaption>
          <p className="hint chart-note" data-testid="loss-note">
            Each step: how far the student's path y = x_θ(z, t) is from obeying the teacher's ODE, the distance
            between y − t·dy/dt and the teacher's denoiser D(y, t) at random times of the grid. It falls as the
            student learns; it is not an error of the samples (the trajectory error is).
          </p>
          {lossDomain ? (
            <ResponsiveContainer width="100%" height={240}>
              <LineChart data={loss} margin={{ top: 8, right: 16, bottom: 4, left: 4 }}>
                <CartesianGrid stroke="#e3e8ee" />
                <XAxis dataKey="step" type="number" domain={[0, Math.max(1, lossMax)]} ticks={stepTicks(lossMax)} interval="preserveStartEnd" tick={AXIS_TICK} />
                <YAxis scale="log" domain={lossDomain} allowDataOverflow ticks={logTicks(lossDomain[0], lossDomain[1], CLEAR_BOTTOM)}
                  tickFormatter={(v: number) => formatNumber(v, 1)} width={54} tick={AXIS_TICK} type="number" />
                <Tooltip formatter={(v) => formatNumber(Number(v), 4)} labelFormatter={(s) => `step ${s}`} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Line dataKey="raw" name="raw" stroke="#9fb3c8" dot={false} strokeWidth={1} isAnimationActive={false} connectNulls />
                <Line dataKey="smoothed" name={`smoothed (EMA ${LOSS_SMOOTHING})`} stroke="#e0672a" dot={false} strokeWidth={2} isAnimationActive={false} connectNulls />
              </LineChart>
            </ResponsiveContainer>
          ) : <p className="chart-empty">The loss appears here once training runs.</p>}
        </figure>
        <figure className="chart" aria-label="Trajectory error by step, log scale" data-testid="traj-chart">
          <figcaption>Trajectory error vs the teacher ODE (RMSE on fixed validation noise, log scale)</figcaption>
          <p className="hint chart-note" data-testid="traj-note">
            From the same fixed noises z, the student's path x_θ(z, t) is compared with the teacher's ODE solution.
            "Whole path": the RMSE over all times from σ_max to σ_min; "one-step sample": at σ_min only, the error of
            the sample the student draws in one step. EMA: the averaged weights a download holds; training weights:
            the raw ones.
          </p>
          {trajDomain ? (
            <ResponsiveContainer width="100%" height={240}>
              <LineChart data={traj} margin={{ top: 8, right: 16, bottom: 4, left: 4 }}>
                <CartesianGrid stroke="#e3e8ee" />
                <XAxis dataKey="step" type="number" domain={[0, Math.max(1, trajMax)]} ticks={stepTicks(trajMax)} interval="preserveStartEnd" tick={AXIS_TICK} />
                <YAxis scale="log" domain={trajDomain} allowDataOverflow ticks={logTicks(trajDomain[0], trajDomain[1], CLEAR_BOTTOM)}
                  tickFormatter={(v: number) => formatNumber(v, 1)} width={54} tick={AXIS_TICK} type="number" />
                <Tooltip formatter={(v) => formatNumber(Number(v), 4)} labelFormatter={(s) => `step ${s}`} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Line dataKey="pathEma" name="whole path (EMA)" stroke="#3b6fb6" strokeWidth={2} isAnimationActive={false} />
                <Line dataKey="endEma" name="one-step sample (EMA)" stroke="#e0672a" strokeWidth={2} isAnimationActive={false} />
                <Line dataKey="pathRaw" name="whole path (training weights)" stroke="#9fb3c8" strokeDasharray="4 3" isAnimationActive={false} />
              </LineChart>
            </ResponsiveContainer>
          ) : <p className="chart-empty">Measured at the start and every K steps.</p>}
          {last ? (
            <p className="hint" data-testid="traj-latest">
              step {last.step}: path RMSE {formatNumber(last.ema.rmsePath)}, one-step RMSE {formatNumber(last.ema.rmseEnd)}
              {' '}(relative {formatRelative(last.ema.relEnd)}: the one-step RMSE divided by the RMS of the teacher's samples)
            </p>
          ) : null}
        </figure>
      </div>
    </section>
  );
}

import { useMemo } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStudio } from '../context';
import { LOSS_SMOOTHING } from '../runtime';
import { formatNumber, logTicks, smooth, thinIndices } from '../series';

const MAX_POINTS = 600;

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

  return (
    <section className="panel" aria-labelledby="live-heading">
      <h2 id="live-heading">Live</h2>
      <div className="charts">
        <figure className="chart" aria-label="PID loss by step, log scale" data-testid="loss-chart" data-points={metrics.loss.length}>
          <figcaption>PID loss (log scale): raw and smoothed</figcaption>
          {lossDomain ? (
            <ResponsiveContainer width="100%" height={240}>
              <LineChart data={loss} margin={{ top: 8, right: 12, bottom: 4, left: 4 }}>
                <CartesianGrid stroke="#e3e8ee" />
                <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} tick={{ fontSize: 11 }} />
                <YAxis scale="log" domain={lossDomain} allowDataOverflow ticks={logTicks(lossDomain[0], lossDomain[1])}
                  tickFormatter={(v: number) => formatNumber(v, 1)} width={54} tick={{ fontSize: 11 }} type="number" />
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
          {trajDomain ? (
            <ResponsiveContainer width="100%" height={240}>
              <LineChart data={traj} margin={{ top: 8, right: 12, bottom: 4, left: 4 }}>
                <CartesianGrid stroke="#e3e8ee" />
                <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} tick={{ fontSize: 11 }} />
                <YAxis scale="log" domain={trajDomain} allowDataOverflow ticks={logTicks(trajDomain[0], trajDomain[1])}
                  tickFormatter={(v: number) => formatNumber(v, 1)} width={54} tick={{ fontSize: 11 }} type="number" />
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
              {' '}(relative {formatNumber(last.ema.relEnd * 100, 2)}%)
            </p>
          ) : null}
        </figure>
      </div>
    </section>
  );
}

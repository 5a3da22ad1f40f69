/** Step metrics batched into messages: at most one every `intervalMs`, so a fast run does not flood the page. */
import type { MetricPoint } from './protocol';

export class MetricsBatcher {
  private pending: MetricPoint[] = [];
  private lastFlush = -Infinity;

  constructor(private readonly now: () => number, private readonly intervalMs: number, private readonly send: (points: MetricPoint[]) => void) {}

  push(point: MetricPoint): void {
    this.pending.push(point);
  }

  /** Sends what is pending when the interval has passed, or at once with `force`. */
  flush(force = false): void {
    if (!this.pending.length) return;
    const now = this.now();
    if (!force && now - this.lastFlush < this.intervalMs) return;
    this.lastFlush = now;
    const points = this.pending;
    this.pending = [];
    this.send(points);
  }

  /** Drops what is pending (a run that is replaced, or went back to a checkpoint). */
  clear(): void {
    this.pending = [];
    this.lastFlush = -Infinity;
  }
}

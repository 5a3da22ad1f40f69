/** A run's clock: milliseconds of training, pauses excluded, so the curves' time axis and the ETA ignore them. */
export class RunClock {
  private startedAt = 0;
  private pausedAt: number | null = null;

  constructor(private readonly now: () => number) {}

  /** Starts at `elapsedMs` (0 for a new run, the saved clock for a restored one), paused or running. */
  start(elapsedMs = 0, paused = false): void {
    const now = this.now();
    this.startedAt = now - elapsedMs;
    this.pausedAt = paused ? now : null;
  }

  pause(): void {
    if (this.pausedAt === null) this.pausedAt = this.now();
  }

  resume(): void {
    if (this.pausedAt === null) return;
    this.startedAt += this.now() - this.pausedAt;
    this.pausedAt = null;
  }

  /** Training time so far; it stands still while paused. */
  elapsed(): number {
    return (this.pausedAt ?? this.now()) - this.startedAt;
  }
}

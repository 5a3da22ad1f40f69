/**
 * Changing the backend restarts the worker, so a change applies once: a pick with the mouse at once, a run of
 * keyboard changes (ArrowDown through the list) when it settles, on blur or on Enter. A start that does not finish in
 * time falls back to the next backend.
 */
import type { BackendChoice } from '../worker/protocol';

/** Keyboard changes closer together than this are one change. */
export const BACKEND_SETTLE_MS = 600;
/** How long a backend may take to start before the page gives up on it. */
export const BACKEND_START_LIMIT_MS = 60_000;

/** The backend to restart on when `choice` did not start in time; null when there is none left to try. */
export function fallbackFor(choice: BackendChoice): BackendChoice | null {
  if (choice === 'cpu') return null;
  return choice === 'wasm' ? 'cpu' : 'wasm';
}

/** Holds the latest of a run of changes and applies it once: at once, after `settleMs` without another, or on flush. */
export class SettlingChoice<T> {
  private pending: { value: T } | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly apply: (value: T) => void, private readonly settleMs = BACKEND_SETTLE_MS) {}

  /** 'now': a deliberate pick (a click); 'settle': one step of a keyboard run. */
  change(value: T, how: 'now' | 'settle'): void {
    this.pending = { value };
    this.clearTimer();
    if (how === 'now') this.flush();
    else this.timer = setTimeout(() => this.flush(), this.settleMs);
  }

  /** Applies the pending change now (blur, Enter); nothing when there is none. */
  flush(): void {
    this.clearTimer();
    const p = this.pending;
    this.pending = null;
    if (p) this.apply(p.value);
  }

  cancel(): void {
    this.clearTimer();
    this.pending = null;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

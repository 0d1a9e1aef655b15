export interface DebounceOptions {
  /** Quiet time after the last change before the merged change is dispatched. Default 100 ms; 0 dispatches at once. */
  afterMs?: number;
  /** Longest a change waits however busy the stream of changes is. Default 10 s. */
  maxMs?: number;
  /**
   * Whether endpoint-only pushes (reason "endpoint", not full) wait for the debounce too. Default true, as
   * Istio's PILOT_ENABLE_EDS_DEBOUNCE; false sends them at once, unmerged with pending config pushes.
   */
  endpoints?: boolean;
}

export const DEFAULT_DEBOUNCE_AFTER_MS = 100;
export const DEFAULT_DEBOUNCE_MAX_MS = 10_000;

/**
 * Merges a burst of changes into one: dispatches `afterMs` after the last change, or `maxMs` after the first one
 * if changes keep coming. Holds at most one merged value, so a storm of changes costs constant memory, and keeps
 * at most one timer (re-armed when it fires early rather than on every change).
 */
export class Debouncer<T> {
  private pending: T | undefined;
  private count = 0;
  private firstAt = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly afterMs: number;
  private readonly maxMs: number;

  constructor(
    options: DebounceOptions,
    private readonly merge: (a: T, b: T) => T,
    /** Receives the merged value, the ms since its first change, and how many changes it merges. */
    private readonly dispatch: (merged: T, debouncedMs: number, count: number) => void,
  ) {
    this.afterMs = Math.max(0, options.afterMs ?? DEFAULT_DEBOUNCE_AFTER_MS);
    this.maxMs = Math.max(this.afterMs, options.maxMs ?? DEFAULT_DEBOUNCE_MAX_MS);
  }

  add(change: T): void {
    const now = Date.now();
    if (this.pending === undefined) {
      this.pending = change;
      this.firstAt = now;
      this.count = 1;
    } else {
      this.pending = this.merge(this.pending, change);
      this.count++;
    }
    this.lastAt = now;
    if (this.afterMs === 0) {
      this.flush();
      return;
    }
    if (!this.timer) this.arm(Math.min(this.afterMs, this.maxMs - (now - this.firstAt)));
  }

  /** Dispatches whatever is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const merged = this.pending;
    if (merged === undefined) return;
    const debounced = Date.now() - this.firstAt;
    const count = this.count;
    this.pending = undefined;
    this.count = 0;
    this.dispatch(merged, debounced, count);
  }

  /** Drops what is pending (shutdown). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.count = 0;
  }

  get hasPending(): boolean {
    return this.pending !== undefined;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, delayMs));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.pending === undefined) return;
    const now = Date.now();
    const quiet = now - this.lastAt;
    const elapsed = now - this.firstAt;
    if (quiet >= this.afterMs || elapsed >= this.maxMs) this.flush();
    else this.arm(Math.min(this.afterMs - quiet, this.maxMs - elapsed));
  }
}

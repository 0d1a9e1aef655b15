/**
 * Quota prefetch after Istio 1.4 (istio/proxy src/istio/prefetch): per quota name and dimensions, the client asks
 * mixer for more than one request needs — as many as passed in the last prediction window, at least the minimum
 * prefetch amount — and serves requests from that pool, refilling in the background once the pool drops below
 * half of that. After mixer grants less than asked (the quota is exhausted) it waits a close-wait window before
 * asking again.
 *
 * Unlike Istio, amounts are never handed out before mixer has granted them: Istio's fail-open "use not granted"
 * pool over-admitted by ~30% (istio/istio#3028), and Flotilla counts quota exactly.
 */

/** What one allocation call to mixer returned. */
export interface QuotaGrant {
  granted: number;
  /** How long the granted amount may be used; undefined means no limit given. */
  validDurationMs?: number;
}

export interface QuotaPrefetchOptions {
  /** The window whose usage predicts the next prefetch. Default 1,000 ms. */
  predictWindowMs?: number;
  /** Least amount asked for in one prefetch. Default 10. */
  minPrefetchAmount?: number;
  /** After a short grant, how long to answer from the pool only. Default 500 ms. */
  closeWaitWindowMs?: number;
  /** Lifetime of a grant that came with no valid_duration. Default 60,000 ms. */
  maxExpirationMs?: number;
  now?: () => number;
}

interface Slot {
  available: number;
  expiresAt: number;
}

export class QuotaPrefetch {
  private readonly slots: Slot[] = [];
  private readonly usage: { at: number; amount: number }[] = [];
  private inflight: Promise<void> | undefined;
  private closedAt: number | undefined;
  private readonly predictWindowMs: number;
  private readonly minPrefetchAmount: number;
  private readonly closeWaitWindowMs: number;
  private readonly maxExpirationMs: number;
  private readonly now: () => number;

  constructor(
    private readonly fetch: (amount: number) => Promise<QuotaGrant>,
    options: QuotaPrefetchOptions = {},
  ) {
    this.predictWindowMs = options.predictWindowMs ?? 1000;
    this.minPrefetchAmount = options.minPrefetchAmount ?? 10;
    this.closeWaitWindowMs = options.closeWaitWindowMs ?? 500;
    this.maxExpirationMs = options.maxExpirationMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Unexpired amount in the pool. */
  available(): number {
    const now = this.now();
    let sum = 0;
    for (const s of this.slots) if (now < s.expiresAt) sum += s.available;
    return sum;
  }

  /** Takes `amount` from the pool, asking mixer when the pool cannot cover it. Resolves false when refused. */
  async acquire(amount: number): Promise<boolean> {
    const desired = Math.max(this.passCount(), this.minPrefetchAmount);
    this.usage.push({ at: this.now(), amount });
    if (this.take(amount)) {
      if (this.available() < desired / 2) void this.refill(desired).catch(() => undefined);
      return true;
    }
    if (this.inflight) {
      await this.inflight.catch(() => undefined);
      if (this.take(amount)) return true;
    }
    if (this.closedAt !== undefined && this.now() - this.closedAt < this.closeWaitWindowMs) return false;
    await this.refill(Math.max(amount, desired));
    return this.take(amount);
  }

  private passCount(): number {
    const since = this.now() - this.predictWindowMs;
    while (this.usage.length > 0 && this.usage[0].at <= since) this.usage.shift();
    return this.usage.reduce((n, u) => n + u.amount, 0);
  }

  private take(amount: number): boolean {
    if (this.available() < amount) return false;
    const now = this.now();
    let left = amount;
    while (left > 0 && this.slots.length > 0) {
      const s = this.slots[0];
      if (now < s.expiresAt) {
        const d = Math.min(s.available, left);
        s.available -= d;
        left -= d;
        if (s.available > 0) break;
      }
      this.slots.shift();
    }
    return true;
  }

  private refill(amount: number): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.closedAt !== undefined && this.now() - this.closedAt < this.closeWaitWindowMs)
      return Promise.resolve();
    const run = (async () => {
      try {
        const grant = await this.fetch(amount);
        const now = this.now();
        if (grant.granted > 0)
          this.slots.push({
            available: grant.granted,
            expiresAt: now + (grant.validDurationMs ?? this.maxExpirationMs),
          });
        this.closedAt = grant.granted < amount ? now : undefined;
      } finally {
        this.inflight = undefined;
      }
    })();
    this.inflight = run;
    return run;
  }
}

/**
 * Check cache after Istio 1.4's mixerclient: each CheckResponse's precondition is stored under the values of the
 * attributes it referenced; a later request hits when, for some known set of references, its values match.
 * valid_duration bounds the entry's life (none: no time limit); valid_use_count is how many cache hits it may
 * serve (0: not cached at all, negative: unlimited).
 */
import type { mixerCheck } from '@flotilla/proto';
import type { Attributes } from './attributes';
import { Referenced } from './referenced';

export type Precondition = mixerCheck.CheckResponse_PreconditionResult;

interface Entry {
  precondition: Precondition;
  expiresAt: number;
  usesLeft: number;
}

export interface CheckCacheOptions {
  /** Most entries kept; the oldest is dropped first. Default 10,000 (Istio's default). */
  maxEntries?: number;
  now?: () => number;
}

export class CheckCache {
  private readonly references = new Map<string, Referenced>();
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: CheckCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached precondition for these attributes, counting one use, or undefined on a miss. */
  lookup(attrs: Attributes): Precondition | undefined {
    const now = this.now();
    for (const ref of this.references.values()) {
      const sig = ref.signature(attrs);
      if (sig === undefined) continue;
      const entry = this.entries.get(sig);
      if (!entry) continue;
      if (now > entry.expiresAt || entry.usesLeft === 0) {
        this.entries.delete(sig);
        return undefined;
      }
      if (entry.usesLeft > 0) entry.usesLeft--;
      return entry.precondition;
    }
    return undefined;
  }

  /** Stores the answer to a Check of `attrs`; answers that cannot serve as a cache key are ignored. */
  store(attrs: Attributes, precondition: Precondition | undefined): void {
    if (!precondition || precondition.validUseCount === 0) return;
    const ref = Referenced.parse(precondition.referencedAttributes);
    if (!ref) return;
    const sig = ref.signature(attrs);
    if (sig === undefined) return; // the references do not fit the request: do not trust them
    if (!this.references.has(ref.hash)) this.references.set(ref.hash, ref);
    const d = precondition.validDuration;
    const expiresAt = d
      ? this.now() + Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6)
      : Number.POSITIVE_INFINITY;
    this.entries.delete(sig);
    this.entries.set(sig, { precondition, expiresAt, usesLeft: precondition.validUseCount });
    while (this.entries.size > this.maxEntries)
      this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
    this.references.clear();
  }
}

import {
  ParamsReader,
  bucketKey,
  defineAdapter,
  effectiveLimit,
  instanceNameMatches,
  quotaExhausted,
  quotaGranted,
  readQuotaLimits,
} from '@flotilla/mixer-adapter-sdk';
import type {
  QuotaArgs,
  QuotaHandler,
  QuotaInstance,
  QuotaLimit,
  QuotaResult,
} from '@flotilla/mixer-adapter-sdk';

export interface MemQuotaParams {
  readonly quotas: readonly QuotaLimit[];
  /** How long an allocation's deduplication id is remembered (retries within it are answered the same). */
  readonly minDeduplicationDurationMs: number;
}

/** Ticks per window: a rolling window forgets allocations one tick (a tenth of the window) at a time. */
const TICKS = 10;

interface Bucket {
  /** [tick, amount] pairs, oldest first. */
  allocations: [number, number][];
  windowMs: number;
}

/**
 * memquota (Istio 1.4 mixer/adapter/memquota): quota counted in this mixer process's memory.
 *
 * SINGLE REPLICA ONLY. Each mixer replica counts on its own, so N replicas admit up to N times the limit (Istio
 * users measured +344% over-admission with memquota behind several replicas, istio/istio#21301). Use redisquota
 * whenever more than one mixer runs.
 *
 * A quota with a validDuration is a rolling window: allocations older than the window (to a tenth of it) stop
 * counting. Without one it is a pool that never refills. Buckets whose window has emptied are dropped, so memory
 * follows the active dimension combinations.
 */
export function createMemQuotaAdapter(now: () => number = Date.now) {
  return defineAdapter<MemQuotaParams, QuotaHandler>({
    name: 'memquota',
    description: 'quota counted in memory (single replica only)',
    templates: ['quota'],
    validate(raw) {
      const p = new ParamsReader(raw).only('quotas', 'minDeduplicationDuration');
      const quotas = readQuotaLimits(p);
      const minDeduplicationDurationMs = p.durationMs('minDeduplicationDuration', 1000);
      p.done();
      return { quotas, minDeduplicationDurationMs };
    },
    async build(params) {
      const buckets = new Map<string, Bucket>();
      const dedup = new Map<string, { result: QuotaResult; until: number }>();
      let calls = 0;

      const sweep = (t: number) => {
        for (const [k, d] of dedup) if (d.until <= t) dedup.delete(k);
        for (const [k, b] of buckets) {
          const tickMs = Math.max(1, b.windowMs / TICKS);
          if (
            b.windowMs > 0 &&
            (b.allocations.length === 0 || b.allocations.at(-1)![0] * tickMs + b.windowMs <= t)
          )
            buckets.delete(k);
        }
      };

      const allocate = (instance: QuotaInstance, args: QuotaArgs): QuotaResult => {
        const limit = params.quotas.find((q) => instanceNameMatches(q.name, instance.name));
        // A quota this handler has no limit for is not limited (as Istio's memquota).
        if (!limit) return quotaGranted(args.amount, 60_000);
        const { maxAmount, validDurationMs } = effectiveLimit(limit, instance.dimensions);
        const t = now();
        const key = bucketKey(instance.name, instance.dimensions);
        let b = buckets.get(key);
        if (!b || b.windowMs !== validDurationMs)
          buckets.set(key, (b = { allocations: [], windowMs: validDurationMs }));
        const tickMs = Math.max(1, validDurationMs / TICKS);
        const tick = Math.floor(t / tickMs);
        if (validDurationMs > 0) {
          const oldest = tick - TICKS + 1;
          while (b.allocations.length && b.allocations[0][0] < oldest) b.allocations.shift();
        }
        const used = b.allocations.reduce((s, [, a]) => s + a, 0);
        const available = Math.max(0, maxAmount - used);
        const grant = args.amount <= available ? args.amount : args.bestEffort ? available : 0;
        // Valid until the next tick, when part of the window's use may be forgotten.
        const validFor = validDurationMs > 0 ? (tick + 1) * tickMs - t : 0;
        const facts = { limit: maxAmount, windowMs: validDurationMs || undefined };
        if (grant === 0)
          return quotaExhausted(`quota ${instance.name} exhausted (${used}/${maxAmount})`, validFor, facts);
        const last = b.allocations.at(-1);
        if (last && last[0] === tick) last[1] += grant;
        else b.allocations.push([tick, grant]);
        return quotaGranted(grant, validDurationMs, { ...facts, remaining: available - grant });
      };

      return {
        async handleQuota(instance, args) {
          if (++calls % 1000 === 0) sweep(now());
          const dedupKey = args.deduplicationId ? `${instance.name};${args.deduplicationId}` : undefined;
          if (dedupKey) {
            const seen = dedup.get(dedupKey);
            if (seen && seen.until > now()) return seen.result;
          }
          const result = allocate(instance, args);
          if (dedupKey) dedup.set(dedupKey, { result, until: now() + params.minDeduplicationDurationMs });
          return result;
        },
        async close() {
          buckets.clear();
          dedup.clear();
        },
      };
    },
  });
}

export const memquotaAdapter = createMemQuotaAdapter();

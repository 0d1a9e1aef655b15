/**
 * The transport-agnostic mixer client: Check answered from the check cache when it can, quota served from
 * prefetched pools, reports batched.
 */
import { mixerCheck } from '@flotilla/proto';
import type { mixerReport } from '@flotilla/proto';
import type { Attributes } from './attributes';
import { encodeAttributes } from './attributes';
import type { CheckCacheOptions } from './check-cache';
import { CheckCache } from './check-cache';
import type { QuotaGrant, QuotaPrefetchOptions } from './quota-prefetch';
import { QuotaPrefetch } from './quota-prefetch';
import type { ReportBatcherOptions } from './report-batcher';
import { ReportBatcher } from './report-batcher';

/** Anything that can carry Check and Report to mixer (the gRPC adapter, or a fake in tests). */
export interface MixerTransport {
  check(request: mixerCheck.CheckRequest): Promise<mixerCheck.CheckResponse>;
  report(request: mixerReport.ReportRequest): Promise<mixerReport.ReportResponse | unknown>;
}

/** A quota to allocate with a Check: its name and the dimensions that pick its bucket. */
export interface QuotaSpec {
  name: string;
  amount?: number;
  /** Values that identify the bucket (e.g. the attributes the quota instance's dimensions read). */
  dimensions?: Readonly<Record<string, string>>;
}

export interface CheckOutcome {
  /** google.rpc code of the precondition (0: allowed) or, when a quota was refused, RESOURCE_EXHAUSTED. */
  code: number;
  message: string;
  /** Whether the precondition came from the cache. */
  cached: boolean;
  routeDirective?: mixerCheck.RouteDirective;
}

export interface MixerClientOptions {
  checkCache?: CheckCacheOptions | false;
  quota?: QuotaPrefetchOptions;
  report?: ReportBatcherOptions;
  /** Used for valid_duration arithmetic in the cache and the quota pools. */
  now?: () => number;
}

const RESOURCE_EXHAUSTED = 8;

function durationMs(d: { seconds: number; nanos: number } | undefined): number | undefined {
  return d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : undefined;
}

export class MixerClient {
  readonly cache: CheckCache | undefined;
  private readonly reports: ReportBatcher;
  private readonly pools = new Map<string, QuotaPrefetch>();
  private checkCalls = 0;

  constructor(
    private readonly transport: MixerTransport,
    private readonly options: MixerClientOptions = {},
  ) {
    this.cache =
      options.checkCache === false ? undefined : new CheckCache({ now: options.now, ...options.checkCache });
    this.reports = new ReportBatcher((r) => transport.report(r), options.report);
  }

  /** Check calls sent to mixer so far (precondition and quota). */
  get remoteChecks(): number {
    return this.checkCalls;
  }

  /** Preconditions (from the cache or mixer), then each quota (from its prefetched pool or mixer). */
  async check(attrs: Attributes, quotas: readonly QuotaSpec[] = []): Promise<CheckOutcome> {
    let precondition = this.cache?.lookup(attrs);
    const cached = precondition !== undefined;
    if (!precondition) {
      const res = await this.send(attrs, {});
      precondition = res.precondition;
      this.cache?.store(attrs, precondition);
    }
    const code = precondition?.status?.code ?? 0;
    const outcome: CheckOutcome = {
      code,
      message: precondition?.status?.message ?? '',
      cached,
      routeDirective: precondition?.routeDirective,
    };
    if (code !== 0) return outcome;
    for (const q of quotas) {
      const ok = await this.pool(attrs, q).acquire(q.amount ?? 1);
      if (!ok) return { ...outcome, code: RESOURCE_EXHAUSTED, message: `quota ${q.name} exhausted` };
    }
    return outcome;
  }

  /** Queues one attribute set for the next Report. */
  report(attrs: Attributes): void {
    this.reports.add(attrs);
  }

  flush(): Promise<void> {
    return this.reports.flush();
  }

  /** Sends the reports still waiting; the client takes no more after. */
  close(): Promise<void> {
    return this.reports.close();
  }

  private pool(attrs: Attributes, q: QuotaSpec): QuotaPrefetch {
    const dims = Object.entries(q.dimensions ?? {}).sort(([a], [b]) => a.localeCompare(b));
    const key = JSON.stringify([q.name, dims]);
    let pool = this.pools.get(key);
    if (!pool) {
      // The pool's refills carry the attributes of the request that created it: same dimensions, same bucket.
      const fetch = async (amount: number): Promise<QuotaGrant> => {
        const res = await this.send(attrs, { [q.name]: { amount, bestEffort: true } });
        const result = res.quotas[q.name];
        if (!result || (result.status?.code ?? 0) !== 0 || (res.precondition?.status?.code ?? 0) !== 0)
          return { granted: 0, validDurationMs: durationMs(result?.validDuration) };
        return { granted: Number(result.grantedAmount), validDurationMs: durationMs(result.validDuration) };
      };
      pool = new QuotaPrefetch(fetch, { now: this.options.now, ...this.options.quota });
      this.pools.set(key, pool);
    }
    return pool;
  }

  private send(
    attrs: Attributes,
    quotas: Record<string, { amount: number; bestEffort: boolean }>,
  ): Promise<mixerCheck.CheckResponse> {
    this.checkCalls++;
    return this.transport.check(
      mixerCheck.CheckRequest.fromPartial({
        attributes: encodeAttributes(attrs),
        globalWordCount: 0,
        quotas,
      }),
    );
  }
}

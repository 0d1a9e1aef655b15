/**
 * Report batching: attribute sets are sent to mixer in one ReportRequest once 100 are waiting or 1 s after the
 * first of a batch, whichever comes first; close() sends what is left.
 */
import { mixerReport } from '@flotilla/proto';
import type { Attributes } from './attributes';
import { encodeAttributes } from './attributes';

export interface ReportBatcherOptions {
  /** Entries that trigger a flush. Default 100. */
  maxEntries?: number;
  /** Longest an entry waits. Default 1,000 ms. */
  maxDelayMs?: number;
  /** Called when a Report call fails (the batch is dropped, as Istio's client does). */
  onError?: (err: unknown) => void;
}

export class ReportBatcher {
  private pending: Attributes[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly sending = new Set<Promise<void>>();
  private closed = false;
  private readonly maxEntries: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly send: (request: mixerReport.ReportRequest) => Promise<unknown>,
    private readonly options: ReportBatcherOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 1000;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  add(attrs: Attributes): void {
    if (this.closed) throw new Error('ReportBatcher is closed');
    this.pending.push(attrs);
    if (this.pending.length >= this.maxEntries) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.maxDelayMs);
      this.timer.unref?.();
    }
  }

  /** Sends what is waiting now; resolves when every Report under way has finished. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const request = mixerReport.ReportRequest.fromPartial({
        attributes: batch.map(encodeAttributes),
        repeatedAttributesSemantics:
          mixerReport.ReportRequest_RepeatedAttributesSemantics.INDEPENDENT_ENCODING,
        globalWordCount: 0,
      });
      const p = this.send(request).then(
        () => undefined,
        (err: unknown) => this.options.onError?.(err),
      );
      this.sending.add(p);
      void p.finally(() => this.sending.delete(p));
    }
    await Promise.all([...this.sending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}

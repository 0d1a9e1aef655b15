import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { metricTypeOf } from './type-urls';

/** Observations held before they are handed to prom-client at once, whatever the event loop is doing. */
const MAX_PENDING = 100_000;

/**
 * Istio's xDS metrics (pilot/pkg/xds/monitoring.go), with its names, labels and buckets, on a prom-client
 * registry. The `type` label is Istio's short form ("cds", "eds", "lds", "rds", ...; the type URL for anything
 * else, such as an MCP collection).
 *
 * One deviation: Istio exposes its counters without a suffix (`pilot_xds_pushes`), which `promtool check metrics`
 * rejects ("counter metrics should have _total suffix"), and every Flotilla /metrics must pass promtool. Counters
 * therefore carry `_total` (`pilot_xds_pushes_total`); gauges and histograms have Istio's exact names.
 */
export class XdsMetrics {
  private static readonly byRegistry = new WeakMap<Registry, XdsMetrics>();

  /** pilot_xds{version}: connected clients by proxy version. */
  readonly connections: Gauge<'version'>;
  /** pilot_xds_pushes_total{type}: responses sent, and send errors as "<type>_senderr". */
  readonly pushes: Counter<'type'>;
  /** pilot_proxy_convergence_time: from the first change of a push to the connection having been sent it. */
  readonly convergence: Histogram;
  /** pilot_total_xds_rejects_total{type}: NACKs. */
  readonly rejects: Counter<'type'>;
  /** pilot_xds_push_time{type}: generating and sending one type to one connection. */
  readonly pushTime: Histogram<'type'>;
  /** pilot_debounce_time: from the first change entering the debouncer to the merged push being queued. */
  readonly debounceTime: Histogram;
  /** pilot_xds_config_size_bytes{type}: encoded size of the resources in one response. */
  readonly configSize: Histogram<'type'>;
  /** pilot_xds_expired_nonce_total{type}: requests carrying a nonce that is not the latest. */
  readonly expiredNonce: Counter<'type'>;
  /** pilot_push_triggers_total{type}: changes that asked for a push, by reason. */
  readonly pushTriggers: Counter<'type'>;
  /** pilot_total_xds_internal_errors_total: generator failures and other server-side errors. */
  readonly internalErrors: Counter;

  private readonly connectionCounts = new Map<string, number>();

  /**
   * Observations made on the push path, not yet in the prom-client metrics: a push records a response on every
   * connection it reaches, and prom-client works out a series key from the label object on every call (a tenth
   * of a push's own per-connection work). They are handed over after the push (in the event loop turn that
   * flushes the writes), or when the metrics are read, whichever comes first.
   */
  private readonly pendingTypes: string[] = [];
  private readonly pendingSeconds: number[] = [];
  private readonly pendingBytes: number[] = [];
  private readonly pendingConvergence: number[] = [];
  private flushScheduled = false;

  /** The metrics on `registry`, created on first use (so two servers in one process share them). */
  static on(registry: Registry): XdsMetrics {
    let metrics = XdsMetrics.byRegistry.get(registry);
    if (!metrics) {
      metrics = new XdsMetrics(registry);
      XdsMetrics.byRegistry.set(registry, metrics);
    }
    return metrics;
  }

  private constructor(registry: Registry) {
    const registers = [registry];
    // Read the metrics fed from the push path with everything observed so far.
    const flush = () => this.flush();
    this.connections = new Gauge({
      name: 'pilot_xds',
      help: 'Number of endpoints connected to this pilot using XDS.',
      labelNames: ['version'],
      registers,
    });
    this.pushes = new Counter({
      name: 'pilot_xds_pushes_total',
      collect: flush,
      help: 'Pilot build and send errors for lds, rds, cds and eds.',
      labelNames: ['type'],
      registers,
    });
    this.convergence = new Histogram({
      name: 'pilot_proxy_convergence_time',
      collect: flush,
      help: 'Delay in seconds between config change and a proxy receiving all required configuration.',
      buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30],
      registers,
    });
    this.rejects = new Counter({
      name: 'pilot_total_xds_rejects_total',
      help: 'Total number of XDS responses from pilot rejected by proxy.',
      labelNames: ['type'],
      registers,
    });
    this.pushTime = new Histogram({
      name: 'pilot_xds_push_time',
      collect: flush,
      help: 'Total time in seconds Pilot takes to push lds, rds, cds and eds.',
      labelNames: ['type'],
      buckets: [0.01, 0.1, 1, 3, 5, 10, 20, 30],
      registers,
    });
    this.debounceTime = new Histogram({
      name: 'pilot_debounce_time',
      help: 'Delay in seconds between the first config enters debouncing and the merged push request is pushed into the push queue.',
      buckets: [0.01, 0.1, 1, 3, 5, 10, 20, 30],
      registers,
    });
    this.configSize = new Histogram({
      name: 'pilot_xds_config_size_bytes',
      collect: flush,
      help: 'Distribution of configuration sizes pushed to clients',
      labelNames: ['type'],
      buckets: [1, 10_000, 1_000_000, 4_000_000, 10_000_000, 40_000_000],
      registers,
    });
    this.expiredNonce = new Counter({
      name: 'pilot_xds_expired_nonce_total',
      help: 'Total number of XDS requests with an expired nonce.',
      labelNames: ['type'],
      registers,
    });
    this.pushTriggers = new Counter({
      name: 'pilot_push_triggers_total',
      help: 'Total number of times a push was triggered, labeled by reason for the push.',
      labelNames: ['type'],
      registers,
    });
    this.internalErrors = new Counter({
      name: 'pilot_total_xds_internal_errors_total',
      help: 'Total number of internal XDS errors in pilot.',
      registers,
    });
  }

  connected(version: string): void {
    this.recordConnections(version, 1);
  }

  disconnected(version: string): void {
    this.recordConnections(version, -1);
  }

  /** A response written: pilot_xds_pushes_total, pilot_xds_push_time and pilot_xds_config_size_bytes. */
  sent(typeUrl: string, seconds: number, bytes: number): void {
    this.pendingTypes.push(typeUrl);
    this.pendingSeconds.push(seconds);
    this.pendingBytes.push(bytes);
    this.scheduleFlush();
  }

  /** A connection has been sent everything a push had for it: pilot_proxy_convergence_time. */
  converged(seconds: number): void {
    this.pendingConvergence.push(seconds);
    this.scheduleFlush();
  }

  /** Hands the pending observations to the prom-client metrics. */
  flush(): void {
    this.flushScheduled = false;
    const types = this.pendingTypes;
    for (let i = 0; i < types.length; i++) {
      const labels = { type: metricTypeOf(types[i]) };
      this.pushes.inc(labels);
      this.pushTime.observe(labels, this.pendingSeconds[i]);
      this.configSize.observe(labels, this.pendingBytes[i]);
    }
    for (const seconds of this.pendingConvergence) this.convergence.observe(seconds);
    types.length = 0;
    this.pendingSeconds.length = 0;
    this.pendingBytes.length = 0;
    this.pendingConvergence.length = 0;
  }

  sendError(typeUrl: string): void {
    this.pushes.inc({ type: `${metricTypeOf(typeUrl)}_senderr` });
  }

  rejected(typeUrl: string): void {
    this.rejects.inc({ type: metricTypeOf(typeUrl) });
  }

  nonceExpired(typeUrl: string): void {
    this.expiredNonce.inc({ type: metricTypeOf(typeUrl) });
  }

  private scheduleFlush(): void {
    // A push storm between event loop turns still holds a bounded number of observations.
    if (this.pendingTypes.length + this.pendingConvergence.length >= MAX_PENDING) {
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      if (this.flushScheduled) this.flush();
    });
  }

  private recordConnections(version: string, delta: number): void {
    const n = (this.connectionCounts.get(version) ?? 0) + delta;
    this.connectionCounts.set(version, n);
    this.connections.set({ version }, n);
  }
}

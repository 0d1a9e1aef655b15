import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ParamsReader,
  defineAdapter,
  durationToMs,
  isDuration,
  valueToString,
} from '@flotilla/mixer-adapter-sdk';
import type { MetricHandler, MetricInstance, Value } from '@flotilla/mixer-adapter-sdk';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type MetricKind = 'COUNTER' | 'GAUGE' | 'DISTRIBUTION';

export interface MetricParams {
  readonly name: string;
  /** The metric instance feeding it (short, name.namespace, or Istio's name.metric.namespace). */
  readonly instanceName: string;
  readonly kind: MetricKind;
  readonly labelNames: readonly string[];
  readonly description: string;
  /** Prefix of the exported name (Istio's default "istio": istio_requests_total). */
  readonly namespace: string;
  readonly buckets?: readonly number[];
}

export interface PrometheusParams {
  readonly metrics: readonly MetricParams[];
  /** Label sets not updated for this long are dropped (0: never). */
  readonly metricsExpiryMs: number;
  readonly expiryCheckIntervalMs: number;
  /** Where this handler serves /metrics (Istio's prometheus adapter used 42422; 0 picks a free port). */
  readonly port: number;
  readonly host: string;
}

export interface PrometheusHandler extends MetricHandler {
  /** The /metrics URL this handler serves. */
  readonly url: string;
  readonly registry: Registry;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Istio's bucket definitions: explicit bounds, or linear / exponential series. */
function readBuckets(p: ParamsReader): number[] | undefined {
  const b = p.nested('buckets');
  if (!b) return undefined;
  b.only('explicitBuckets', 'linearBuckets', 'exponentialBuckets');
  const whole = (v: number) => (Number.isInteger(v) && v > 0 ? undefined : 'must be a whole number > 0');
  let bounds: number[] | undefined;
  const explicit = b.nested('explicitBuckets');
  const linear = b.nested('linearBuckets');
  const exponential = b.nested('exponentialBuckets');
  if (explicit) {
    explicit.only('bounds');
    bounds = explicit.stringList('bounds').map(Number);
    if (bounds.length === 0 || bounds.some((n) => !Number.isFinite(n)))
      explicit.problem('bounds', 'expected a list of numbers');
  } else if (linear) {
    linear.only('numFiniteBuckets', 'width', 'offset');
    const n = linear.number('numFiniteBuckets', 1, whole);
    const width = linear.number('width', 1, (v) => (v > 0 ? undefined : 'must be > 0'));
    const offset = linear.number('offset', 0);
    bounds = Array.from({ length: n }, (_, i) => offset + i * width);
  } else if (exponential) {
    exponential.only('numFiniteBuckets', 'growthFactor', 'scale');
    const n = exponential.number('numFiniteBuckets', 1, whole);
    const growth = exponential.number('growthFactor', 2, (v) => (v > 1 ? undefined : 'must be > 1'));
    const scale = exponential.number('scale', 1, (v) => (v > 0 ? undefined : 'must be > 0'));
    bounds = Array.from({ length: n }, (_, i) => scale * growth ** i);
  } else p.problem('buckets', 'give explicitBuckets, linearBuckets or exponentialBuckets');
  if (bounds && bounds.some((v, i) => i > 0 && v <= bounds![i - 1]))
    p.problem('buckets', 'bounds must increase');
  return bounds;
}

function numeric(v: Value, metric: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (isDuration(v)) return durationToMs(v) / 1000; // durations are exported in seconds
  if (v instanceof Date) return v.getTime() / 1000;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new Error(`metric ${metric}: value ${JSON.stringify(valueToString(v))} is not a number`);
}

function instanceMatches(configured: string, fqn: string): boolean {
  if (configured === fqn) return true;
  const dot = fqn.indexOf('.');
  const [name, ns] = [fqn.slice(0, dot), fqn.slice(dot + 1)];
  return (
    configured === name || configured === `${name}.metric.${ns}` || configured === `${name}.instance.${ns}`
  );
}

interface Exported {
  readonly params: MetricParams;
  readonly metric: Counter<string> | Gauge<string> | Histogram<string>;
  /** label-values key → [labels, last update] */
  readonly seen: Map<string, [Record<string, string>, number]>;
}

/**
 * prometheus (Istio 1.4 mixer/adapter/prometheus): metric instances become counters, gauges and histograms
 * (DISTRIBUTION) with the configured label names and buckets, served as Prometheus text on the handler's own
 * /metrics. Label sets not updated within metricsExpiryDuration are removed, so series of departed workloads do
 * not live forever.
 */
/** Where handlers serve /metrics when their params name no port or host. */
export interface PrometheusDefaults {
  port: number;
  host: string;
}

export function createPrometheusAdapter(
  now: () => number = Date.now,
  defaults: PrometheusDefaults = { port: 42422, host: '0.0.0.0' },
) {
  return defineAdapter<PrometheusParams, PrometheusHandler>({
    name: 'prometheus',
    description: 'exports metric instances for Prometheus to scrape',
    templates: ['metric'],
    validate(raw) {
      const p = new ParamsReader(raw).only('metrics', 'metricsExpirationPolicy', 'port', 'host');
      const names = new Set<string>();
      const metrics = p.list('metrics', (m) => {
        m.only('name', 'instanceName', 'kind', 'labelNames', 'description', 'namespace', 'buckets');
        const name = m.string('name', '');
        const namespace = m.string('namespace', 'istio');
        const full = namespace ? `${namespace}_${name}` : name;
        if (!name || !NAME.test(full))
          m.problem('name', `${JSON.stringify(full)} is not a Prometheus metric name`);
        if (names.has(full)) m.problem('name', `${full} is exported twice`);
        names.add(full);
        const instanceName = m.string('instanceName', '');
        if (!instanceName) m.problem('instanceName', 'required');
        const kind = m.oneOf('kind', ['COUNTER', 'GAUGE', 'DISTRIBUTION'] as const, 'COUNTER');
        const labelNames = m.stringList('labelNames');
        for (const l of labelNames)
          if (!LABEL.test(l) || l.startsWith('__'))
            m.problem('labelNames', `${JSON.stringify(l)} is not a label name`);
        const buckets = readBuckets(m);
        if (buckets && kind !== 'DISTRIBUTION')
          m.problem('buckets', 'only DISTRIBUTION metrics have buckets');
        return {
          name: full,
          instanceName,
          kind,
          labelNames,
          description: m.string('description', `${full} (from mixer)`),
          namespace,
          buckets,
        };
      });
      const policy = p
        .nested('metricsExpirationPolicy')
        ?.only('metricsExpiryDuration', 'expiryCheckIntervalDuration');
      const metricsExpiryMs = policy?.durationMs('metricsExpiryDuration', 0) ?? 0;
      const expiryCheckIntervalMs =
        policy?.durationMs('expiryCheckIntervalDuration', Math.max(1000, metricsExpiryMs / 2)) ?? 0;
      const port = p.number('port', defaults.port, (n) =>
        Number.isInteger(n) && n >= 0 && n <= 65535 ? undefined : 'must be a port (0-65535)',
      );
      const host = p.string('host', defaults.host);
      p.done();
      return { metrics, metricsExpiryMs, expiryCheckIntervalMs, port, host };
    },
    async build(params, env) {
      const registry = new Registry();
      const exported: Exported[] = params.metrics.map((m) => {
        const common = {
          name: m.name,
          help: m.description,
          labelNames: [...m.labelNames],
          registers: [registry],
        };
        const metric =
          m.kind === 'COUNTER'
            ? new Counter(common)
            : m.kind === 'GAUGE'
              ? new Gauge(common)
              : new Histogram({ ...common, buckets: m.buckets ? [...m.buckets] : undefined });
        return { params: m, metric, seen: new Map() };
      });
      const server: Server = createServer((req, res) => {
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
          res.writeHead(404).end('not found; metrics are at /metrics\n');
          return;
        }
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(params.port, params.host, () => resolve());
      });
      const port = (server.address() as AddressInfo).port;
      const url = `http://${params.host === '0.0.0.0' ? '127.0.0.1' : params.host}:${port}/metrics`;
      env.logger.info({ handler: env.handlerName, url }, 'prometheus adapter serving /metrics');

      const expire = () => {
        const cutoff = now() - params.metricsExpiryMs;
        for (const e of exported)
          for (const [key, [labels, at]] of e.seen)
            if (at < cutoff) {
              e.metric.remove(labels);
              e.seen.delete(key);
            }
      };
      const timer =
        params.metricsExpiryMs > 0 ? setInterval(expire, params.expiryCheckIntervalMs) : undefined;
      timer?.unref();

      const record = (e: Exported, instance: MetricInstance) => {
        const labels: Record<string, string> = {};
        for (const l of e.params.labelNames) {
          const v = instance.dimensions[l];
          labels[l] = v === undefined ? '' : valueToString(v);
        }
        const value = numeric(instance.value, e.params.name);
        if (e.metric instanceof Counter) {
          if (value < 0)
            throw new Error(`metric ${e.params.name}: a counter cannot decrease (value ${value})`);
          e.metric.inc(labels, value);
        } else if (e.metric instanceof Gauge) e.metric.set(labels, value);
        else e.metric.observe(labels, value);
        if (params.metricsExpiryMs > 0)
          e.seen.set(JSON.stringify(e.params.labelNames.map((l) => labels[l])), [labels, now()]);
      };

      return {
        url,
        registry,
        async handleMetric(instances) {
          const problems: string[] = [];
          for (const instance of instances) {
            for (const e of exported) {
              if (!instanceMatches(e.params.instanceName, instance.name)) continue;
              try {
                record(e, instance);
              } catch (err) {
                problems.push((err as Error).message);
              }
            }
          }
          if (problems.length) throw new Error(`${problems.length} metric value(s) dropped: ${problems[0]}`);
        },
        /** Drops expired label sets now (the timer does it every expiryCheckInterval). */
        expireNow: expire,
        async close() {
          if (timer) clearInterval(timer);
          await new Promise<void>((resolve) => server.close(() => resolve()));
          registry.clear();
        },
      } as PrometheusHandler & { expireNow: () => void };
    },
  });
}

export const prometheusAdapter = createPrometheusAdapter();

import { credentials } from '@grpc/grpc-js';
import { MetricServiceClient } from '@google-cloud/monitoring';
import {
  ParamsReader,
  defineAdapter,
  durationToMs,
  isDuration,
  valueToString,
} from '@flotilla/mixer-adapter-sdk';
import type { MetricHandler, MetricInstance, Value } from '@flotilla/mixer-adapter-sdk';
import { DistributionAccumulator, readBuckets } from './distribution';
import type { BucketOptions } from './distribution';

export type StackdriverMetricKind = 'GAUGE' | 'DELTA' | 'CUMULATIVE';
export type StackdriverValueType = 'INT64' | 'DOUBLE' | 'BOOL' | 'STRING' | 'DISTRIBUTION';

export interface MetricInfo {
  /** The metric instance feeding it (short, name.namespace, or Istio's name.metric.namespace). */
  readonly instanceName: string;
  readonly kind: StackdriverMetricKind;
  readonly valueType: StackdriverValueType;
  /** The Cloud Monitoring metric type (default custom.googleapis.com/<instance's short name>). */
  readonly metricType: string;
  /** DISTRIBUTION metrics only: Istio's BucketsDefinition, which is Cloud Monitoring's BucketOptions. */
  readonly buckets?: BucketOptions;
}

/**
 * How the adapter authenticates, Istio's `creds` oneof: Application Default Credentials (`appCredentials`, also
 * the default) or a service account key file (`serviceAccountPath`). Istio 1.4's `apiKey` is refused, as Istio
 * 1.4 documents it: "API Key is no longer supported, use service account instead".
 */
export type StackdriverCredentials =
  { readonly kind: 'application-default' } | { readonly kind: 'service-account'; readonly path: string };

export interface StackdriverParams {
  readonly projectId: string;
  readonly pushIntervalMs: number;
  readonly metrics: readonly MetricInfo[];
  readonly credentials: StackdriverCredentials;
  /** Where the MetricService is (Istio's `endpoint`, or `apiEndpoint` and `port`); default Google's. */
  readonly apiEndpoint?: string;
  readonly port?: number;
  /** Plain-text gRPC with no Google credentials (test doubles only). */
  readonly insecure: boolean;
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly timeoutMs: number;
}

export interface StackdriverHandler extends MetricHandler {
  /** Sends every buffered series now (the timer does it every push interval). */
  flush(): Promise<void>;
}

/** Cloud Monitoring accepts at most 200 time series per CreateTimeSeries request. */
export const MAX_SERIES_PER_REQUEST = 200;
const RETRYABLE = new Set([4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */]);

/** Metric types the user owns, whose descriptors the adapter creates (Cloud Monitoring's custom metrics). */
const CUSTOM_METRIC_PREFIX = 'custom.googleapis.com/';

type SeriesValue = number | boolean | string | DistributionAccumulator;

interface Series {
  readonly info: MetricInfo;
  readonly labels: Record<string, string>;
  readonly resourceType: string;
  readonly resourceLabels: Record<string, string>;
  /** CUMULATIVE: since the first value; DELTA: since the last push. */
  startMs: number;
  value: SeriesValue;
  dirty: boolean;
}

function convert(v: Value, type: StackdriverValueType, metric: string): number | boolean | string {
  if (type === 'DISTRIBUTION') return convert(v, 'DOUBLE', metric);
  if (type === 'STRING') return valueToString(v);
  if (type === 'BOOL') {
    if (typeof v === 'boolean') return v;
    throw new Error(`metric ${metric}: value ${JSON.stringify(valueToString(v))} is not a bool`);
  }
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'boolean') n = v ? 1 : 0;
  else if (isDuration(v))
    n = durationToMs(v); // durations are exported in milliseconds, like Istio's
  else if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) n = Number(v);
  if (n === undefined || !Number.isFinite(n))
    throw new Error(`metric ${metric}: value ${JSON.stringify(valueToString(v))} is not a number`);
  return type === 'INT64' ? Math.round(n) : n;
}

const timestamp = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

function typedValue(v: SeriesValue, type: StackdriverValueType) {
  if (v instanceof DistributionAccumulator) return { distributionValue: v.toValue() };
  if (type === 'INT64') return { int64Value: v as number };
  if (type === 'DOUBLE') return { doubleValue: v as number };
  if (type === 'BOOL') return { boolValue: v as boolean };
  return { stringValue: v as string };
}

/** The configured instance name against the instance's fqn (name.namespace): short, fqn, or name.metric.ns. */
function instanceMatches(configured: string, fqn: string): boolean {
  if (configured === fqn) return true;
  const dot = fqn.indexOf('.');
  const [name, ns] = [fqn.slice(0, dot), fqn.slice(dot + 1)];
  return (
    configured === name || configured === `${name}.metric.${ns}` || configured === `${name}.instance.${ns}`
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function readMetricInfo(p: ParamsReader, raw: unknown): MetricInfo[] {
  if (raw === undefined || raw === null) {
    p.problem('metricInfo', 'required: a map of metric instance name to {kind, value, metricType}');
    return [];
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    p.problem('metricInfo', 'expected a map of metric instance name to {kind, value, metricType}');
    return [];
  }
  return Object.entries(raw as Record<string, unknown>).map(([instanceName, item]) => {
    const m = new ParamsReader(item, `metricInfo.${instanceName}`).only(
      'kind',
      'value',
      'metricType',
      'buckets',
    );
    const kind = m.oneOf('kind', ['GAUGE', 'DELTA', 'CUMULATIVE'] as const, 'GAUGE');
    const valueType = m.oneOf(
      'value',
      ['INT64', 'DOUBLE', 'BOOL', 'STRING', 'DISTRIBUTION'] as const,
      'INT64',
    );
    if ((valueType === 'BOOL' || valueType === 'STRING') && kind !== 'GAUGE')
      m.problem('value', `${valueType} metrics must be GAUGE`);
    // Istio ignores buckets on other value types; so does this (Istio: "ignored for non-distribution metrics").
    const buckets = valueType === 'DISTRIBUTION' ? readBuckets(m, item) : undefined;
    if (valueType === 'DISTRIBUTION' && kind === 'GAUGE')
      m.problem('kind', 'DISTRIBUTION metrics must be CUMULATIVE or DELTA');
    const short = instanceName.split('.')[0];
    const metricType = m.string('metricType', `custom.googleapis.com/${short}`);
    if (!/^[a-z0-9.-]+\/[A-Za-z0-9_/.-]+$/.test(metricType))
      m.problem('metricType', `${JSON.stringify(metricType)} is not a metric type (domain/path)`);
    for (const problem of m.absorb().problems) p.problems.push(problem);
    return { instanceName, kind, valueType, metricType, ...(buckets ? { buckets } : {}) };
  });
}

/** Istio's `endpoint`: host, host:port or a URL → the client's apiEndpoint and port. */
function parseEndpoint(p: ParamsReader, endpoint: string): { apiEndpoint?: string; port?: number } {
  const m = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(endpoint.trim());
  if (!m || (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535))) {
    p.problem('endpoint', `${JSON.stringify(endpoint)} is not host, host:port or a URL with no path`);
    return {};
  }
  return { apiEndpoint: m[2], ...(m[3] ? { port: Number(m[3]) } : {}) };
}

function readCredentials(p: ParamsReader): StackdriverCredentials {
  const given = ['appCredentials', 'apiKey', 'serviceAccountPath'].filter((k) => p.has(k));
  if (given.length > 1)
    p.problem(given[1], `only one of appCredentials, apiKey, serviceAccountPath may be set`);
  if (p.has('apiKey')) {
    p.string('apiKey');
    p.problem(
      'apiKey',
      'API keys are no longer supported (Istio 1.4); use serviceAccountPath or appCredentials',
    );
  }
  p.boolean('appCredentials', true);
  const path = p.string('serviceAccountPath');
  if (path !== undefined && path.trim() === '') p.problem('serviceAccountPath', 'must be a file path');
  return path ? { kind: 'service-account', path } : { kind: 'application-default' };
}

/**
 * stackdriver (Istio 1.4 mixer/adapter/stackdriver, metrics only): metric instances become Cloud Monitoring time
 * series. Values are aggregated per series (metric type + labels + monitored resource) between pushes — GAUGE keeps
 * the last value, DELTA sums since the last push, CUMULATIVE keeps a running total since the series was first
 * seen — and every push interval (and on close) the changed series go out through CreateTimeSeries in batches of
 * at most 200, with retries and exponential backoff on UNAVAILABLE and DEADLINE_EXCEEDED. A batch that still fails
 * is dropped and counted in mixer_stackdriver_push_failures_total. DISTRIBUTION metrics keep count, mean, sum of
 * squared deviations and bucket counts per series in Istio's buckets (linear, exponential or explicit), which are
 * Cloud Monitoring's BucketOptions. Custom metrics (custom.googleapis.com/…) get their MetricDescriptor created
 * when the config is built. Istio's `endpoint`, `appCredentials` and `serviceAccountPath` are honoured.
 */
export function createStackdriverAdapter(now: () => number = Date.now) {
  return defineAdapter<StackdriverParams, StackdriverHandler>({
    name: 'stackdriver',
    description: 'pushes metric instances to Google Cloud Monitoring',
    templates: ['metric'],
    validate(raw) {
      const p = new ParamsReader(raw).only(
        'projectId',
        'pushInterval',
        'metricInfo',
        'endpoint',
        'appCredentials',
        'apiKey',
        'serviceAccountPath',
        'apiEndpoint',
        'port',
        'insecure',
        'maxRetries',
        'initialBackoff',
        'timeout',
      );
      const projectId = p.string('projectId', '');
      if (!projectId) p.problem('projectId', 'required');
      const pushIntervalMs = p.durationMs('pushInterval', 60_000);
      if (pushIntervalMs <= 0) p.problem('pushInterval', 'must be > 0');
      const metrics = readMetricInfo(p, (raw as Record<string, unknown> | undefined)?.metricInfo);
      const credentials = readCredentials(p);
      const endpoint = p.string('endpoint');
      if (endpoint !== undefined && (p.has('apiEndpoint') || p.has('port')))
        p.problem('endpoint', 'give either endpoint or apiEndpoint and port, not both');
      const fromEndpoint = endpoint ? parseEndpoint(p, endpoint) : {};
      const apiEndpoint = p.string('apiEndpoint') ?? fromEndpoint.apiEndpoint;
      const port = p.has('port')
        ? p.number('port', 443, (n) =>
            Number.isInteger(n) && n > 0 && n <= 65535 ? undefined : 'must be a port (1-65535)',
          )
        : fromEndpoint.port;
      const insecure = p.boolean('insecure', false);
      if (insecure && !apiEndpoint) p.problem('insecure', 'only with an apiEndpoint (a test double)');
      const maxRetries = p.number('maxRetries', 3, (n) =>
        Number.isInteger(n) && n >= 0 ? undefined : 'must be a whole number >= 0',
      );
      const initialBackoffMs = p.durationMs('initialBackoff', 500);
      const timeoutMs = p.durationMs('timeout', 12_000);
      p.done();
      return {
        projectId,
        pushIntervalMs,
        metrics,
        credentials,
        apiEndpoint,
        port,
        insecure,
        maxRetries,
        initialBackoffMs,
        timeoutMs,
      };
    },
    async build(params, env) {
      const client = new MetricServiceClient({
        projectId: params.projectId,
        ...(params.apiEndpoint ? { apiEndpoint: params.apiEndpoint } : {}),
        ...(params.port ? { port: params.port } : {}),
        ...(params.credentials.kind === 'service-account' ? { keyFilename: params.credentials.path } : {}),
        // A test double: no TLS, and fixed fake credentials with the universe domain given, so google-auth never
        // looks for Application Default Credentials or the metadata server (the gRPC channel uses sslCreds only).
        ...(params.insecure
          ? {
              sslCreds: credentials.createInsecure(),
              universeDomain: 'googleapis.com',
              credentials: { client_email: 'test-double@invalid', private_key: 'unused' },
            }
          : {}),
      });
      const failures = env.metrics?.counter(
        'mixer_stackdriver_push_failures_total',
        'CreateTimeSeries requests to Cloud Monitoring that failed after retries (their series are dropped)',
        ['handler', 'code'],
      );
      const descriptorFailures = env.metrics?.counter(
        'mixer_stackdriver_descriptor_failures_total',
        'CreateMetricDescriptor requests to Cloud Monitoring that failed (retried before the next push)',
        ['handler', 'code'],
      );
      const series = new Map<string, Series>();
      const project = `projects/${params.projectId}`;

      // Custom metrics need a MetricDescriptor before time series can be written to them. One is created for
      // each custom metric type when the config is built; the instance's dimension names are not known then, so
      // when a series arrives with labels its descriptor lacks, the descriptor is created again with them before
      // the push (Cloud Monitoring updates an existing descriptor that way and never removes labels).
      const customMetrics = new Map<string, MetricInfo>();
      for (const info of params.metrics)
        if (info.metricType.startsWith(CUSTOM_METRIC_PREFIX) && !customMetrics.has(info.metricType))
          customMetrics.set(info.metricType, info);
      /** Label keys of each custom metric's descriptor as last created; absent until created. */
      const described = new Map<string, ReadonlySet<string>>();
      const describe = async (info: MetricInfo, labels: ReadonlySet<string>) => {
        try {
          await client.createMetricDescriptor(
            {
              name: project,
              metricDescriptor: {
                name: `${project}/metricDescriptors/${info.metricType}`,
                type: info.metricType,
                metricKind: info.kind,
                valueType: info.valueType,
                labels: [...labels].sort().map((key) => ({ key, valueType: 'STRING' })),
                description: `Istio metric instance ${info.instanceName}, written by mixer's stackdriver adapter`,
                displayName: info.metricType.slice(CUSTOM_METRIC_PREFIX.length),
              },
            },
            { timeout: params.timeoutMs, maxRetries: 0 },
          );
          described.set(info.metricType, labels);
        } catch (err) {
          const code = (err as { code?: number }).code;
          descriptorFailures?.inc({ handler: env.handlerName, code: String(code ?? 'unknown') });
          env.logger.warn(
            { handler: env.handlerName, metricType: info.metricType, err: (err as Error).message },
            'stackdriver metric descriptor not created; retrying before the next push',
          );
        }
      };
      await Promise.all([...customMetrics.values()].map((info) => describe(info, new Set())));

      const record = (info: MetricInfo, instance: MetricInstance) => {
        const value = convert(instance.value, info.valueType, info.metricType);
        const labels: Record<string, string> = {};
        for (const [k, v] of Object.entries(instance.dimensions)) labels[k] = valueToString(v);
        const resourceType = instance.monitoredResourceType || 'global';
        const resourceLabels: Record<string, string> = {};
        for (const [k, v] of Object.entries(instance.monitoredResourceDimensions))
          resourceLabels[k] = valueToString(v);
        if (resourceType === 'global' && !resourceLabels.project_id)
          resourceLabels.project_id = params.projectId;
        const key = JSON.stringify([info.metricType, labels, resourceType, resourceLabels]);
        const s = series.get(key);
        const t = now();
        if (!s) {
          let initial: SeriesValue = value;
          if (info.buckets) {
            initial = new DistributionAccumulator(info.buckets);
            initial.add(value as number);
          }
          // Cloud Monitoring wants a start time strictly before the end time for DELTA and CUMULATIVE points.
          series.set(key, {
            info,
            labels,
            resourceType,
            resourceLabels,
            startMs: t - 1,
            value: initial,
            dirty: true,
          });
          return;
        }
        if (s.value instanceof DistributionAccumulator) {
          if (info.kind === 'DELTA' && !s.dirty) {
            s.value.reset();
            s.startMs = Math.max(s.startMs, t - 1);
          }
          s.value.add(value as number);
        } else if (info.kind === 'GAUGE') s.value = value;
        else if (info.kind === 'DELTA' && !s.dirty) {
          s.value = value;
          s.startMs = Math.max(s.startMs, t - 1);
        } else s.value = (s.value as number) + (value as number);
        s.dirty = true;
      };

      const send = async (batch: object[]) => {
        for (let attempt = 0; ; attempt++) {
          try {
            await client.createTimeSeries(
              { name: project, timeSeries: batch },
              { timeout: params.timeoutMs, maxRetries: 0 },
            );
            return;
          } catch (err) {
            const code = (err as { code?: number }).code;
            if (attempt < params.maxRetries && code !== undefined && RETRYABLE.has(code)) {
              await sleep(params.initialBackoffMs * 2 ** attempt);
              continue;
            }
            failures?.inc({ handler: env.handlerName, code: String(code ?? 'unknown') });
            env.logger.warn(
              { handler: env.handlerName, series: batch.length, err: (err as Error).message },
              'stackdriver push failed; series dropped',
            );
            return;
          }
        }
      };

      const push = async () => {
        const wanted = new Map<string, Set<string>>();
        for (const s of series.values()) {
          if (!s.dirty || !customMetrics.has(s.info.metricType)) continue;
          const have = described.get(s.info.metricType);
          const keys = Object.keys(s.labels);
          if (have && keys.every((k) => have.has(k))) continue;
          const union = wanted.get(s.info.metricType) ?? new Set(have);
          for (const k of keys) union.add(k);
          wanted.set(s.info.metricType, union);
        }
        await Promise.all([...wanted].map(([type, labels]) => describe(customMetrics.get(type)!, labels)));

        const t = now();
        const out: object[] = [];
        for (const s of series.values()) {
          if (!s.dirty) continue;
          s.dirty = false;
          out.push({
            metric: { type: s.info.metricType, labels: s.labels },
            resource: { type: s.resourceType, labels: s.resourceLabels },
            metricKind: s.info.kind,
            valueType: s.info.valueType,
            points: [
              {
                interval:
                  s.info.kind === 'GAUGE'
                    ? { endTime: timestamp(t) }
                    : { startTime: timestamp(s.startMs), endTime: timestamp(Math.max(t, s.startMs + 1)) },
                value: typedValue(s.value, s.info.valueType),
              },
            ],
          });
          if (s.info.kind === 'DELTA') s.startMs = t;
        }
        for (let i = 0; i < out.length; i += MAX_SERIES_PER_REQUEST)
          await send(out.slice(i, i + MAX_SERIES_PER_REQUEST));
      };

      // One push at a time: a flush waits for the one under way, then sends what arrived since.
      let pushing: Promise<void> = Promise.resolve();
      const flush = () => (pushing = pushing.then(push));
      const timer = setInterval(() => void flush(), params.pushIntervalMs);
      timer.unref();
      env.logger.info(
        { handler: env.handlerName, project, endpoint: params.apiEndpoint ?? 'monitoring.googleapis.com' },
        'stackdriver adapter pushing to Cloud Monitoring',
      );

      return {
        async handleMetric(instances) {
          const problems: string[] = [];
          for (const instance of instances)
            for (const info of params.metrics) {
              if (!instanceMatches(info.instanceName, instance.name)) continue;
              try {
                record(info, instance);
              } catch (err) {
                problems.push((err as Error).message);
              }
            }
          if (problems.length) throw new Error(`${problems.length} metric value(s) dropped: ${problems[0]}`);
        },
        flush,
        async close() {
          clearInterval(timer);
          await flush();
          await client.close();
        },
      };
    },
  });
}

export const stackdriverAdapter = createStackdriverAdapter();

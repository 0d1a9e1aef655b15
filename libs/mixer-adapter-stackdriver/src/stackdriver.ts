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

export type StackdriverMetricKind = 'GAUGE' | 'DELTA' | 'CUMULATIVE';
export type StackdriverValueType = 'INT64' | 'DOUBLE' | 'BOOL' | 'STRING';

export interface MetricInfo {
  /** The metric instance feeding it (short, name.namespace, or Istio's name.metric.namespace). */
  readonly instanceName: string;
  readonly kind: StackdriverMetricKind;
  readonly valueType: StackdriverValueType;
  /** The Cloud Monitoring metric type (default custom.googleapis.com/<instance's short name>). */
  readonly metricType: string;
}

export interface StackdriverParams {
  readonly projectId: string;
  readonly pushIntervalMs: number;
  readonly metrics: readonly MetricInfo[];
  /** Where the MetricService is (tests: a loopback double); default Google's. */
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

interface Series {
  readonly info: MetricInfo;
  readonly labels: Record<string, string>;
  readonly resourceType: string;
  readonly resourceLabels: Record<string, string>;
  /** CUMULATIVE: since the first value; DELTA: since the last push. */
  startMs: number;
  value: number | boolean | string;
  dirty: boolean;
}

function convert(v: Value, type: StackdriverValueType, metric: string): number | boolean | string {
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

function typedValue(v: number | boolean | string, type: StackdriverValueType) {
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
    const m = new ParamsReader(item, `metricInfo.${instanceName}`).only('kind', 'value', 'metricType');
    const kind = m.oneOf('kind', ['GAUGE', 'DELTA', 'CUMULATIVE'] as const, 'GAUGE');
    const valueType = m.oneOf('value', ['INT64', 'DOUBLE', 'BOOL', 'STRING'] as const, 'INT64');
    if ((valueType === 'BOOL' || valueType === 'STRING') && kind !== 'GAUGE')
      m.problem('value', `${valueType} metrics must be GAUGE`);
    const short = instanceName.split('.')[0];
    const metricType = m.string('metricType', `custom.googleapis.com/${short}`);
    if (!/^[a-z0-9.-]+\/[A-Za-z0-9_/.-]+$/.test(metricType))
      m.problem('metricType', `${JSON.stringify(metricType)} is not a metric type (domain/path)`);
    for (const problem of m.absorb().problems) p.problems.push(problem);
    return { instanceName, kind, valueType, metricType };
  });
}

/**
 * stackdriver (Istio 1.4 mixer/adapter/stackdriver, metrics only): metric instances become Cloud Monitoring time
 * series. Values are aggregated per series (metric type + labels + monitored resource) between pushes — GAUGE keeps
 * the last value, DELTA sums since the last push, CUMULATIVE keeps a running total since the series was first
 * seen — and every push interval (and on close) the changed series go out through CreateTimeSeries in batches of
 * at most 200, with retries and exponential backoff on UNAVAILABLE and DEADLINE_EXCEEDED. A batch that still fails
 * is dropped and counted in mixer_stackdriver_push_failures_total.
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
      const apiEndpoint = p.string('apiEndpoint');
      const port = p.has('port')
        ? p.number('port', 443, (n) =>
            Number.isInteger(n) && n > 0 && n <= 65535 ? undefined : 'must be a port (1-65535)',
          )
        : undefined;
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
      const series = new Map<string, Series>();
      const project = `projects/${params.projectId}`;

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
          // Cloud Monitoring wants a start time strictly before the end time for DELTA and CUMULATIVE points.
          series.set(key, { info, labels, resourceType, resourceLabels, startMs: t - 1, value, dirty: true });
          return;
        }
        if (info.kind === 'GAUGE') s.value = value;
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

import { AdapterHarness, ParamsError } from '@flotilla/mixer-adapter-sdk';
import { CloudMonitoringDouble } from '@flotilla/testing';
import { createStackdriverAdapter } from './stackdriver';
import type { StackdriverHandler } from './stackdriver';

// No Google metadata server lookups: the tests talk only to the loopback double.
process.env.METADATA_SERVER_DETECTION = 'none';

const UNAVAILABLE = 14;
const INVALID_ARGUMENT = 3;

const metric = (value: unknown, dimensions: Record<string, unknown> = {}) =>
  ({ value, dimensions, monitoredResourceType: '', monitoredResourceDimensions: {} }) as never;

describe('stackdriver adapter', () => {
  let double: CloudMonitoringDouble;
  let h: AdapterHarness<unknown, StackdriverHandler> | undefined;
  let clock = 1_700_000_000_000;

  const start = async (extra: Record<string, unknown> = {}) =>
    (h = (await AdapterHarness.start(
      createStackdriverAdapter(() => clock),
      {
        projectId: 'flotilla-test',
        pushInterval: '1h',
        apiEndpoint: '127.0.0.1',
        port: double.port,
        insecure: true,
        initialBackoff: '10ms',
        metricInfo: {
          'requestcount.metric.istio-system': {
            kind: 'CUMULATIVE',
            value: 'INT64',
            metricType: 'istio.io/service/server/request_count',
          },
          'connections.istio-system': { kind: 'GAUGE', value: 'DOUBLE' },
          'bytes.istio-system': { kind: 'DELTA', value: 'INT64' },
        },
        ...extra,
      },
    )) as AdapterHarness<unknown, StackdriverHandler>);

  beforeEach(async () => {
    double = await CloudMonitoringDouble.start();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await double.close();
  });

  it('turns metric instances into time series with their labels, kinds, value types and values', async () => {
    await start();
    await h!.report(
      'metric',
      [
        metric(1, { destination_service: 'reviews', response_code: 200 }),
        metric(1, { destination_service: 'reviews', response_code: 200 }),
        metric(1, { destination_service: 'ratings', response_code: 503 }),
      ],
      'requestcount.istio-system',
    );
    await h!.report(
      'metric',
      [
        {
          value: 2.5,
          dimensions: { destination_service: 'reviews' },
          monitoredResourceType: 'k8s_container',
          monitoredResourceDimensions: { namespace_name: 'default', pod_name: 'reviews-1' },
        },
      ],
      'connections.istio-system',
    );
    clock += 5000;
    await h!.handler.flush();

    expect(double.requests).toHaveLength(1);
    expect(double.requests[0].name).toBe('projects/flotilla-test');
    const byLabel = Object.fromEntries(
      double.timeSeries.map((s) => [`${s.metric.type} ${s.metric.labels?.destination_service}`, s]),
    );
    const reviews = byLabel['istio.io/service/server/request_count reviews'];
    expect(reviews.metric.labels).toEqual({ destination_service: 'reviews', response_code: '200' });
    expect(reviews.resource).toEqual({ type: 'global', labels: { project_id: 'flotilla-test' } });
    expect(reviews.metricKind).toBe('CUMULATIVE');
    expect(reviews.valueType).toBe('INT64');
    expect(reviews.points).toHaveLength(1);
    expect(reviews.points[0].value.int64Value).toBe('2');
    const { startTime, endTime } = reviews.points[0].interval;
    expect(Number(startTime!.seconds)).toBeLessThan(Number(endTime.seconds));
    expect(byLabel['istio.io/service/server/request_count ratings'].points[0].value.int64Value).toBe('1');

    const gauge = byLabel['custom.googleapis.com/connections reviews'];
    expect(gauge.metricKind).toBe('GAUGE');
    expect(gauge.valueType).toBe('DOUBLE');
    expect(gauge.points[0].value.doubleValue).toBe(2.5);
    expect(gauge.points[0].interval.startTime).toBeUndefined();
    expect(gauge.resource).toEqual({
      type: 'k8s_container',
      labels: { namespace_name: 'default', pod_name: 'reviews-1' },
    });

    // A cumulative series keeps its total and start time; only series that changed are sent again.
    await h!.report(
      'metric',
      [metric(3, { destination_service: 'reviews', response_code: 200 })],
      'requestcount.istio-system',
    );
    clock += 5000;
    await h!.handler.flush();
    expect(double.requests).toHaveLength(2);
    expect(double.requests[1].timeSeries).toHaveLength(1);
    expect(double.requests[1].timeSeries[0].points[0].value.int64Value).toBe('5');
    expect(double.requests[1].timeSeries[0].points[0].interval.startTime).toEqual(startTime);
  });

  it('sends 450 series as 3 CreateTimeSeries calls of at most 200', async () => {
    await start();
    await h!.report(
      'metric',
      Array.from({ length: 450 }, (_, i) => metric(i, { pod: `pod-${i}` })),
      'connections.istio-system',
    );
    await h!.handler.flush();
    expect(double.requests.map((r) => r.timeSeries.length)).toEqual([200, 200, 50]);
    expect(new Set(double.timeSeries.map((s) => s.metric.labels?.pod)).size).toBe(450);
  });

  it('retries after UNAVAILABLE, and counts a push that fails for good', async () => {
    await start({ maxRetries: 2 });
    double.failNext(UNAVAILABLE, 2);
    await h!.report('metric', [metric(7, { pod: 'a' })], 'bytes.istio-system');
    await h!.handler.flush();
    expect(double.attempts).toHaveLength(3);
    expect(double.requests).toHaveLength(1);
    expect(double.requests[0].timeSeries[0].metricKind).toBe('DELTA');
    expect(double.requests[0].timeSeries[0].points[0].value.int64Value).toBe('7');
    expect(h!.metrics.counts.size).toBe(0);

    double.failNext(INVALID_ARGUMENT, 1);
    await h!.report('metric', [metric(1, { pod: 'a' })], 'bytes.istio-system');
    await h!.handler.flush();
    expect(double.attempts).toHaveLength(4); // not retried: the request itself is wrong
    expect(
      h!.metrics.counts.get('mixer_stackdriver_push_failures_total{handler="handler.test",code="3"}'),
    ).toBe(1);
  });

  it('flushes what is buffered on close', async () => {
    await start();
    await h!.report('metric', [metric(1, { pod: 'a' })], 'requestcount.istio-system');
    expect(double.requests).toHaveLength(0);
    await h!.close();
    h = undefined;
    expect(double.timeSeries.map((s) => s.points[0].value.int64Value)).toEqual(['1']);
  });

  it('pushes every push interval', async () => {
    await start({ pushInterval: '50ms' });
    await h!.report('metric', [metric(1, { pod: 'a' })], 'connections.istio-system');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(double.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('sends DISTRIBUTION metrics as Cloud Monitoring distributions with bucket options and counts', async () => {
    await start({
      metricInfo: {
        'requestsize.istio-system': {
          kind: 'CUMULATIVE',
          value: 'DISTRIBUTION',
          metricType: 'istio.io/service/server/request_bytes',
          buckets: { exponentialBuckets: { numFiniteBuckets: 3, growthFactor: 10, scale: 1 } },
        },
        'latency.istio-system': {
          kind: 'DELTA',
          value: 'DISTRIBUTION',
          buckets: { explicitBuckets: { bounds: [10, '100'] } },
        },
      },
    });
    await h!.report(
      'metric',
      [0.5, 1, 50, 50, 5000].map((v) => metric(v, { destination_service: 'reviews' })),
      'requestsize.istio-system',
    );
    await h!.report(
      'metric',
      [5, 10, { value: 250 }].map((v) =>
        metric(typeof v === 'number' ? v : String(v.value), { destination_service: 'reviews' }),
      ),
      'latency.istio-system',
    );
    clock += 1000;
    await h!.handler.flush();
    const byType = Object.fromEntries(double.timeSeries.map((s) => [s.metric.type, s]));
    const size = byType['istio.io/service/server/request_bytes'];
    expect(size.valueType).toBe('DISTRIBUTION');
    expect(size.metricKind).toBe('CUMULATIVE');
    const d = size.points[0].value.distributionValue!;
    expect(d.count).toBe('5');
    expect(d.mean).toBeCloseTo((0.5 + 1 + 50 + 50 + 5000) / 5, 9);
    const mean = (0.5 + 1 + 50 + 50 + 5000) / 5;
    const ssd = [0.5, 1, 50, 50, 5000].reduce((a, v) => a + (v - mean) ** 2, 0);
    expect(d.sumOfSquaredDeviation).toBeCloseTo(ssd, 4);
    // (The double's decoder also names the oneof that is set, hence toMatchObject.)
    expect(d.bucketOptions).toMatchObject({
      exponentialBuckets: { numFiniteBuckets: 3, growthFactor: 10, scale: 1 },
    });
    // underflow [<1], [1,10), [10,100), [100,1000), overflow [>=1000]
    expect(d.bucketCounts).toEqual(['1', '1', '2', '0', '1']);
    const latency = byType['custom.googleapis.com/latency'].points[0].value.distributionValue!;
    expect(latency.bucketOptions).toMatchObject({ explicitBuckets: { bounds: [10, 100] } });
    expect(latency.bucketCounts).toEqual(['1', '1', '1']);

    // Next interval: the cumulative one keeps its totals, the delta one starts again.
    await h!.report('metric', [metric(20, { destination_service: 'reviews' })], 'requestsize.istio-system');
    await h!.report('metric', [metric(20, { destination_service: 'reviews' })], 'latency.istio-system');
    clock += 1000;
    await h!.handler.flush();
    const next = Object.fromEntries(double.requests[1].timeSeries.map((s) => [s.metric.type, s]));
    expect(next['istio.io/service/server/request_bytes'].points[0].value.distributionValue!.count).toBe('6');
    expect(
      next['istio.io/service/server/request_bytes'].points[0].value.distributionValue!.bucketCounts,
    ).toEqual(['1', '1', '3', '0', '1']);
    const delta = next['custom.googleapis.com/latency'].points[0].value.distributionValue!;
    expect(delta.count).toBe('1');
    expect(delta.mean).toBe(20);
    expect(delta.sumOfSquaredDeviation ?? 0).toBe(0);
    expect(delta.bucketCounts).toEqual(['0', '1', '0']);
  });

  it('creates descriptors for custom metrics when the config is built, adding labels before they are written', async () => {
    await start();
    // Built: only the custom.googleapis.com types (istio.io/... types are Google's own) and no series yet.
    expect(double.requests).toHaveLength(0);
    expect(double.descriptorRequests.map((r) => r.metricDescriptor.type).sort()).toEqual([
      'custom.googleapis.com/bytes',
      'custom.googleapis.com/connections',
    ]);
    const connections = double.descriptorRequests.find(
      (r) => r.metricDescriptor.type === 'custom.googleapis.com/connections',
    )!;
    expect(connections.name).toBe('projects/flotilla-test');
    expect(connections.metricDescriptor).toMatchObject({
      name: 'projects/flotilla-test/metricDescriptors/custom.googleapis.com/connections',
      metricKind: 'GAUGE',
      valueType: 'DOUBLE',
    });
    expect(connections.metricDescriptor.labels ?? []).toEqual([]);

    await h!.report('metric', [metric(1, { pod: 'a', zone: 'z1' })], 'connections.istio-system');
    await h!.handler.flush();
    expect(double.descriptorRequests).toHaveLength(3);
    expect(double.descriptorRequests[2].metricDescriptor.labels!.map((l) => [l.key, l.valueType])).toEqual([
      ['pod', 'STRING'],
      ['zone', 'STRING'],
    ]);
    expect(double.timeSeries).toHaveLength(1);

    // Same labels again: no new descriptor request.
    await h!.report('metric', [metric(2, { pod: 'b', zone: 'z1' })], 'connections.istio-system');
    await h!.handler.flush();
    expect(double.descriptorRequests).toHaveLength(3);
    expect(double.timeSeries).toHaveLength(2);
  });

  it('keeps serving when a descriptor cannot be created, counts it and creates it before the next push', async () => {
    double.failNextDescriptor(UNAVAILABLE, 2);
    await start();
    expect(double.descriptorRequests).toHaveLength(0);
    expect(
      h!.metrics.counts.get('mixer_stackdriver_descriptor_failures_total{handler="handler.test",code="14"}'),
    ).toBe(2);
    await h!.report('metric', [metric(3, { pod: 'a' })], 'bytes.istio-system');
    await h!.handler.flush();
    expect(double.descriptorRequests.map((r) => r.metricDescriptor.type)).toEqual([
      'custom.googleapis.com/bytes',
    ]);
    expect(double.descriptorRequests[0].metricDescriptor.labels!.map((l) => l.key)).toEqual(['pod']);
    expect(double.timeSeries).toHaveLength(1);
  });

  it("reaches the service at Istio's endpoint param", async () => {
    await start({ apiEndpoint: undefined, port: undefined, endpoint: `127.0.0.1:${double.port}` });
    await h!.report('metric', [metric(1, { pod: 'a' })], 'requestcount.istio-system');
    await h!.handler.flush();
    expect(double.timeSeries).toHaveLength(1);
  });

  it("reads Istio 1.4's credential params and refuses the API keys Istio 1.4 no longer supports", () => {
    const adapter = createStackdriverAdapter();
    expect(adapter.validate({ projectId: 'p', metricInfo: {} }).credentials).toEqual({
      kind: 'application-default',
    });
    expect(adapter.validate({ projectId: 'p', appCredentials: true, metricInfo: {} }).credentials).toEqual({
      kind: 'application-default',
    });
    expect(
      adapter.validate({ projectId: 'p', serviceAccountPath: '/etc/mixer/sa.json', metricInfo: {} })
        .credentials,
    ).toEqual({ kind: 'service-account', path: '/etc/mixer/sa.json' });
    expect(
      adapter.validate({ projectId: 'p', endpoint: 'https://monitoring.example:8443', metricInfo: {} }),
    ).toMatchObject({ apiEndpoint: 'monitoring.example', port: 8443 });
    const problems = (params: Record<string, unknown>) => {
      try {
        adapter.validate({ projectId: 'p', metricInfo: {}, ...params });
      } catch (err) {
        return (err as ParamsError).problems;
      }
      return [];
    };
    expect(problems({ apiKey: 'AIza' })).toEqual([
      'apiKey: API keys are no longer supported (Istio 1.4); use serviceAccountPath or appCredentials',
    ]);
    expect(problems({ appCredentials: true, serviceAccountPath: '/sa.json' })).toEqual([
      'serviceAccountPath: only one of appCredentials, apiKey, serviceAccountPath may be set',
    ]);
    expect(problems({ endpoint: 'a b' })).toEqual([
      'endpoint: "a b" is not host, host:port or a URL with no path',
    ]);
    expect(problems({ endpoint: 'h:1', port: 2 })).toEqual([
      'endpoint: give either endpoint or apiEndpoint and port, not both',
    ]);
  });

  it('rejects DISTRIBUTION metrics without valid buckets, naming each field', () => {
    const adapter = createStackdriverAdapter();
    let problems: readonly string[] = [];
    try {
      adapter.validate({
        projectId: 'p',
        metricInfo: {
          'a.ns': { kind: 'CUMULATIVE', value: 'DISTRIBUTION' },
          'b.ns': {
            kind: 'GAUGE',
            value: 'DISTRIBUTION',
            buckets: { linearBuckets: { numFiniteBuckets: 0, width: -1 } },
          },
          'c.ns': {
            kind: 'CUMULATIVE',
            value: 'DISTRIBUTION',
            buckets: { exponentialBuckets: { numFiniteBuckets: 2, growthFactor: 1, scale: 1 } },
          },
          'd.ns': { kind: 'DELTA', value: 'DISTRIBUTION', buckets: { explicitBuckets: { bounds: [1, 1] } } },
          'e.ns': {
            kind: 'DELTA',
            value: 'DISTRIBUTION',
            buckets: { explicitBuckets: { bounds: [1] }, linearBuckets: { numFiniteBuckets: 1, width: 1 } },
          },
        },
      });
    } catch (err) {
      problems = (err as ParamsError).problems;
    }
    expect(problems).toEqual([
      'metricInfo.a.ns.buckets: required for DISTRIBUTION metrics: linearBuckets, exponentialBuckets or explicitBuckets',
      'metricInfo.b.ns.kind: DISTRIBUTION metrics must be CUMULATIVE or DELTA',
      'metricInfo.b.ns.buckets.linearBuckets.numFiniteBuckets: must be a whole number > 0',
      'metricInfo.b.ns.buckets.linearBuckets.width: must be > 0',
      'metricInfo.c.ns.buckets.exponentialBuckets.growthFactor: must be > 1',
      'metricInfo.d.ns.buckets.explicitBuckets.bounds: must be strictly increasing',
      'metricInfo.e.ns.buckets.linearBuckets: give exactly one of linearBuckets, exponentialBuckets, explicitBuckets',
    ]);
  });

  it('rejects bad params with every problem', () => {
    const adapter = createStackdriverAdapter();
    expect(() =>
      adapter.validate({
        pushInterval: 'soon',
        metricInfo: {
          'x.ns': { kind: 'SUMMARY', value: 'STRING' },
          'y.ns': { kind: 'DELTA', value: 'BOOL' },
        },
      }),
    ).toThrow(ParamsError);
    let problems: readonly string[] = [];
    try {
      adapter.validate({ metricInfo: { 'y.ns': { kind: 'DELTA', value: 'BOOL' } } });
    } catch (err) {
      problems = (err as ParamsError).problems;
    }
    expect(problems).toEqual(['projectId: required', 'metricInfo.y.ns.value: BOOL metrics must be GAUGE']);
    expect(adapter.validate({ projectId: 'p', metricInfo: {} }).pushIntervalMs).toBe(60_000);
  });
});

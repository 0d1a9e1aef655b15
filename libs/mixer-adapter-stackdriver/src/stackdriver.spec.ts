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

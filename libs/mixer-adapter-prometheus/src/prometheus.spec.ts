import { execFileSync } from 'node:child_process';
import { AdapterHarness, ParamsError } from '@flotilla/mixer-adapter-sdk';
import { createPrometheusAdapter } from './prometheus';
import type { PrometheusHandler } from './prometheus';

const params = {
  port: 0,
  host: '127.0.0.1',
  metrics: [
    {
      name: 'requests_total',
      instanceName: 'requestcount.metric.istio-system',
      kind: 'COUNTER',
      labelNames: ['destination_service', 'response_code'],
      description: 'requests seen by mixer',
    },
    {
      name: 'request_duration_seconds',
      instanceName: 'requestduration.istio-system',
      kind: 'DISTRIBUTION',
      labelNames: ['destination_service'],
      buckets: { explicitBuckets: { bounds: [0.005, 0.01, 0.1, 1] } },
    },
    {
      name: 'tcp_connections_open',
      instanceName: 'connections',
      kind: 'GAUGE',
      labelNames: ['destination_service'],
    },
  ],
  metricsExpirationPolicy: { metricsExpiryDuration: '10m', expiryCheckIntervalDuration: '1m' },
};

describe('prometheus adapter', () => {
  let clock = 0;
  let h: AdapterHarness<unknown, PrometheusHandler>;

  beforeEach(async () => {
    h = (await AdapterHarness.start(
      createPrometheusAdapter(() => clock),
      params,
    )) as AdapterHarness<unknown, PrometheusHandler>;
  });
  afterEach(() => h.close());

  const scrape = async () => (await fetch(h.handler.url)).text();

  it('serves counters, histograms and gauges on its own /metrics, as text promtool accepts', async () => {
    await h.report(
      'metric',
      [
        {
          value: 1,
          dimensions: { destination_service: 'reviews', response_code: 200 },
          monitoredResourceType: '',
          monitoredResourceDimensions: {},
        },
        {
          value: 1,
          dimensions: { destination_service: 'reviews', response_code: 200 },
          monitoredResourceType: '',
          monitoredResourceDimensions: {},
        },
        {
          value: 1,
          dimensions: { destination_service: 'ratings', response_code: 503 },
          monitoredResourceType: '',
          monitoredResourceDimensions: {},
        },
      ],
      'requestcount.istio-system',
    );
    await h.report(
      'metric',
      [
        {
          value: { seconds: 0, nanos: 7_000_000 },
          dimensions: { destination_service: 'reviews' },
          monitoredResourceType: '',
          monitoredResourceDimensions: {},
        },
      ],
      'requestduration.istio-system',
    );
    await h.report(
      'metric',
      [
        {
          value: 3,
          dimensions: { destination_service: 'mongodb' },
          monitoredResourceType: '',
          monitoredResourceDimensions: {},
        },
      ],
      'connections.istio-system',
    );
    const text = await scrape();
    expect(text).toContain('istio_requests_total{destination_service="reviews",response_code="200"} 2');
    expect(text).toContain('istio_requests_total{destination_service="ratings",response_code="503"} 1');
    expect(text).toContain(
      'istio_request_duration_seconds_bucket{le="0.01",destination_service="reviews"} 1',
    );
    expect(text).toContain(
      'istio_request_duration_seconds_bucket{le="0.005",destination_service="reviews"} 0',
    );
    expect(text).toContain('istio_tcp_connections_open{destination_service="mongodb"} 3');
    execFileSync('promtool', ['check', 'metrics'], { input: text });
  });

  it('drops label sets not updated within the expiry duration', async () => {
    const count = (service: string) => ({
      value: 1,
      dimensions: { destination_service: service, response_code: 200 },
      monitoredResourceType: '',
      monitoredResourceDimensions: {},
    });
    await h.report('metric', [count('old')], 'requestcount.istio-system');
    clock += 9 * 60_000;
    await h.report('metric', [count('fresh')], 'requestcount.istio-system');
    clock += 2 * 60_000;
    (h.handler as unknown as { expireNow: () => void }).expireNow();
    const text = await scrape();
    expect(text).not.toContain('destination_service="old"');
    expect(text).toContain('destination_service="fresh"');
  });

  it('refuses a value that is not a number, and keeps counting the others', async () => {
    await expect(
      h.report(
        'metric',
        [
          { value: 'lots', dimensions: {}, monitoredResourceType: '', monitoredResourceDimensions: {} },
          { value: 2, dimensions: {}, monitoredResourceType: '', monitoredResourceDimensions: {} },
        ],
        'requestcount.istio-system',
      ),
    ).rejects.toThrow(
      /1 metric value\(s\) dropped: metric istio_requests_total: value "lots" is not a number/,
    );
    expect(await scrape()).toContain('istio_requests_total{destination_service="",response_code=""} 2');
  });
});

describe('prometheus adapter params', () => {
  it('names every bad field', () => {
    let err: unknown;
    try {
      createPrometheusAdapter().validate({
        metrics: [
          { name: 'bad-name', instanceName: 'x', kind: 'SUMMARY', labelNames: ['__x'] },
          {
            name: 'h',
            instanceName: 'y',
            kind: 'COUNTER',
            buckets: { linearBuckets: { numFiniteBuckets: 0, width: 1 } },
          },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParamsError);
    expect((err as ParamsError).problems).toEqual([
      'metrics[0].name: "istio_bad-name" is not a Prometheus metric name',
      'metrics[0].kind: expected one of COUNTER, GAUGE, DISTRIBUTION, got "SUMMARY"',
      'metrics[0].labelNames: "__x" is not a label name',
      'metrics[1].buckets: only DISTRIBUTION metrics have buckets',
      'metrics[1].buckets.linearBuckets.numFiniteBuckets: must be a whole number > 0',
    ]);
  });
});

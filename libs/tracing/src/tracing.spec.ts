import { startTracing } from './tracing';

describe('startTracing', () => {
  it('is off, and does not even load the OpenTelemetry SDK, unless an OTLP endpoint is configured', async () => {
    const tracing = startTracing('galley', '0.0.0', {});
    expect(tracing.enabled).toBe(false);
    await expect(tracing.shutdown()).resolves.toBeUndefined();
    expect(Object.keys(require.cache).some((m) => m.includes('sdk-trace-node'))).toBe(false);
  });

  it('loads the SDK and exports spans when an endpoint is set', async () => {
    // Nothing listens there: the exporter only connects when spans are flushed, and shutdown never throws.
    const tracing = startTracing('galley', '0.0.0', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
    expect(tracing.enabled).toBe(true);
    expect(Object.keys(require.cache).some((m) => m.includes('sdk-trace-node'))).toBe(true);
    await expect(tracing.shutdown()).resolves.toBeUndefined();
  });
});

import { startTracing } from './tracing';

describe('startTracing', () => {
  it('is off, and exports nothing, unless an OTLP endpoint is configured', async () => {
    const tracing = startTracing('galley', '0.0.0', {});
    expect(tracing.enabled).toBe(false);
    await expect(tracing.shutdown()).resolves.toBeUndefined();
  });
});

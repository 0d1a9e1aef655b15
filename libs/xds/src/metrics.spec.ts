import { Registry } from 'prom-client';
import { XdsMetrics } from './metrics';
import { TypeUrl } from './type-urls';

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** The value of a counter's series with the given `type` label. */
async function counted(registry: Registry, name: string, type: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values.find((v) => v.labels.type === type)?.value;
}

describe('XdsMetrics', () => {
  it('counts responses and convergence recorded on the push path when the metrics are read, turn or no turn', async () => {
    const registry = new Registry();
    const metrics = XdsMetrics.on(registry);
    metrics.sent(TypeUrl.Cluster, 0.002, 120);
    metrics.sent(TypeUrl.Cluster, 0.004, 80);
    metrics.sent(TypeUrl.ClusterLoadAssignment, 0.001, 50);
    metrics.converged(0.05);

    // Read before the event loop turns: the read hands the pending observations over first.
    expect(await counted(registry, 'pilot_xds_pushes_total', 'cds')).toBe(2);
    const text = await registry.metrics();
    expect(text).toContain('pilot_xds_pushes_total{type="cds"} 2');
    expect(text).toContain('pilot_xds_pushes_total{type="eds"} 1');
    expect(text).toContain('pilot_xds_push_time_sum{type="cds"} 0.006');
    expect(text).toContain('pilot_xds_config_size_bytes_sum{type="cds"} 200');
    expect(text).toContain('pilot_proxy_convergence_time_count 1');

    // Nothing counted twice by a later read.
    expect(await registry.metrics()).toContain('pilot_xds_pushes_total{type="cds"} 2');
  });

  it('hands observations over once the event loop turns, without a read', async () => {
    const metrics = XdsMetrics.on(new Registry());
    const inc = jest.spyOn(metrics.pushes, 'inc');
    const observe = jest.spyOn(metrics.convergence, 'observe');
    metrics.sent(TypeUrl.Listener, 0.001, 10);
    metrics.converged(0.01);
    expect(inc).not.toHaveBeenCalled();
    await turn();
    expect(inc).toHaveBeenCalledTimes(1);
    expect(observe).toHaveBeenCalledWith(0.01);
  });

  it('holds a bounded number of observations when the event loop does not turn', () => {
    const metrics = XdsMetrics.on(new Registry());
    const inc = jest.spyOn(metrics.pushes, 'inc');
    for (let i = 0; i < 100_000; i++) metrics.sent(TypeUrl.Cluster, 0.001, 10);
    expect(inc).toHaveBeenCalledTimes(100_000);
  });
});

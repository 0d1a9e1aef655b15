import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * prom-client's default metrics name three gauges with a `_total` suffix, which Prometheus reserves for counters
 * (`promtool check metrics` rejects them). They are dropped: the same counts stay available, by resource type, in
 * `nodejs_active_resources`, `nodejs_active_handles` and `nodejs_active_requests`.
 */
const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/**
 * One Prometheus registry per app (prom-client is the repo's only metrics library). It carries Node's process
 * metrics and `flotilla_build_info`, and every module of the app registers its own metrics on it.
 */
export function createMetricsRegistry(component: string, version: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
  const info = new Gauge({
    name: 'flotilla_build_info',
    help: 'Always 1; labels name the component and its version.',
    labelNames: ['component', 'version'],
    registers: [registry],
  });
  info.set({ component, version }, 1);
  return registry;
}

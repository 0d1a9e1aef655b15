export { createPrometheusAdapter, prometheusAdapter } from './prometheus';
export type { MetricKind, MetricParams, PrometheusHandler, PrometheusParams } from './prometheus';

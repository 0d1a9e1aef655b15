export { createPrometheusAdapter, prometheusAdapter } from './prometheus';
export type {
  MetricKind,
  PrometheusDefaults,
  MetricParams,
  PrometheusHandler,
  PrometheusParams,
} from './prometheus';

export { MAX_SERIES_PER_REQUEST, createStackdriverAdapter, stackdriverAdapter } from './stackdriver';
export type {
  MetricInfo,
  StackdriverHandler,
  StackdriverMetricKind,
  StackdriverParams,
  StackdriverValueType,
} from './stackdriver';

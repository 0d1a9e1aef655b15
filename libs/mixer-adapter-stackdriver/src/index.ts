export { MAX_SERIES_PER_REQUEST, createStackdriverAdapter, stackdriverAdapter } from './stackdriver';
export type {
  MetricInfo,
  StackdriverCredentials,
  StackdriverHandler,
  StackdriverMetricKind,
  StackdriverParams,
  StackdriverValueType,
} from './stackdriver';
export { DistributionAccumulator, bucketCount, bucketIndex } from './distribution';
export type { BucketOptions } from './distribution';

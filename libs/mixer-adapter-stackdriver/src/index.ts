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
// Also exported as `adapter`, the name mixer looks for when a handler names this package (third-party loading).
export { stackdriverAdapter as adapter } from './stackdriver';

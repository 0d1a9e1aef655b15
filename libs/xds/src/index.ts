export { AdsServer } from './ads-server';
export type { AdsServerOptions, PushOptions } from './ads-server';
export { AdsConnection, TypeState } from './connection';
export type { AckRecord, NackRecord, SentRecord, StreamHost } from './connection';
export { syncDebugHandler } from './debug';
export { DEFAULT_DEBOUNCE_AFTER_MS, DEFAULT_DEBOUNCE_MAX_MS, Debouncer } from './debounce';
export type { DebounceOptions } from './debounce';
export { DeltaConnection } from './delta-stream';
export { XdsMetrics } from './metrics';
export { PushQueue } from './push-queue';
export {
  MAX_MERGED_SCOPES,
  mergePushRequests,
  pushAffectsConnection,
  pushAffectsWatched,
  pushCoversType,
  pushRequest,
} from './push-request';
export type { PushRequest, PushScope, ResourceFilter } from './push-request';
export { EncodedResourceCache } from './resource-cache';
export type { EncodedResourceCacheOptions } from './resource-cache';
export { ResourceSnapshot } from './snapshot';
export { SotwConnection } from './sotw-stream';
export type { ConnectionStatus, TypeStatus } from './status';
export { Subscription, WILDCARD } from './subscriptions';
export type { DeltaSubscriptionChange } from './subscriptions';
export { TypeUrl, inPushOrder, isFullStateType, metricTypeOf } from './type-urls';
export type {
  ConnectionInfo,
  GenerateContext,
  Generator,
  ResourceEntry,
  VersionedResource,
  WatchedResources,
} from './types';
export { VersionMap, contentVersion, newNonce, setVersion } from './versions';

export { defineAdapter, silentLogger } from './adapter';
export type { Adapter, AdapterCounter, AdapterEnv, AdapterLogger, AdapterMetrics } from './adapter';
export { serveAdapter } from './grpc/serve';
export type { AdapterServer, ServeOptions } from './grpc/serve';
export { TEMPLATE_SERVICES } from './grpc/services';
export type { TemplateService, WireRequest } from './grpc/services';
export {
  checkResultFromWire,
  checkResultToWire,
  instanceFromWire,
  instanceToWire,
  paramsFromAdapterConfig,
  paramsToAdapterConfig,
  quotaArgsFromWire,
  quotaRequestToWire,
  quotaResultFromWire,
  quotaResultToWire,
  valueFromWire,
  valueToWire,
} from './grpc/wire';
export type { WireValue } from './grpc/wire';
export { HANDLER_METHOD, handlesTemplate } from './handler';
export type {
  AuthorizationHandler,
  CheckNothingHandler,
  Handler,
  HandlerOf,
  ListEntryHandler,
  LogEntryHandler,
  MetricHandler,
  QuotaHandler,
  ReportNothingHandler,
} from './handler';
export { AdapterHarness, RecordingMetrics, createRecordingAdapter, recordingLogger } from './harness';
export type { HarnessCall, LogRecord, RecordingAdapter, RecordingBehaviour } from './harness';
export { ParamsError, ParamsReader, parseDurationMs } from './params';
export { bucketKey, effectiveLimit, instanceNameMatches, readQuotaLimits } from './quota-config';
export type { QuotaLimit, QuotaOverride } from './quota-config';
export {
  DEFAULT_VALID_DURATION_MS,
  DEFAULT_VALID_USE_COUNT,
  checkDenied,
  checkOk,
  quotaExhausted,
  quotaGranted,
} from './results';
export type { BucketFacts } from './results';
export { Code, OK, codeName, isOk, status } from './status';
export type { CodeNumber, Status } from './status';
export { TEMPLATE_NAMES, TEMPLATE_VARIETY, isTemplateName } from './templates';
export type {
  Action,
  AuthorizationInstance,
  CheckNothingInstance,
  CheckResult,
  InstanceOf,
  ListEntryInstance,
  LogEntryInstance,
  MetricInstance,
  QuotaArgs,
  QuotaInstance,
  QuotaResult,
  ReportNothingInstance,
  Subject,
  TemplateName,
  TemplateVariety,
} from './templates';
export {
  VALUE_TYPES,
  durationFromMs,
  durationToMs,
  formatIp,
  isDuration,
  isValueType,
  parseIp,
  valueToString,
} from './values';
export type { Duration, StringMap, Value, ValueType } from './values';

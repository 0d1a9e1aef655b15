/**
 * Between the SDK's types and the messages of Istio 1.4's out-of-process adapter services
 * (protos/mixer/template/<template>/template_handler_service.proto): what mixer sends a remote adapter and what the
 * adapter answers. Mixer (the client) and `serveAdapter` (the server) both use these, so the two sides cannot
 * disagree.
 */
import { packAny, protobufStruct, unpackAny } from '@flotilla/proto';
import type {
  adapterCheck,
  adapterQuota,
  authorizationTemplate,
  logentryTemplate,
  metricTemplate,
  protobufAny,
  quotaTemplate,
} from '@flotilla/proto';
import { Code, OK, status } from '../status';
import type {
  AuthorizationInstance,
  CheckResult,
  InstanceOf,
  LogEntryInstance,
  MetricInstance,
  QuotaArgs,
  QuotaInstance,
  QuotaResult,
  TemplateName,
} from '../templates';
import { durationFromMs, durationToMs, isDuration, valueToString } from '../values';
import type { Value } from '../values';

/**
 * A value as the wire carries it: the oneof of istio.policy.v1beta1.Value, which the quota template's
 * istio.mixer.adapter.model.v1beta1.Value repeats field for field (so one shape serves both).
 */
export interface WireValue {
  stringValue?: string;
  int64Value?: number;
  doubleValue?: number;
  boolValue?: boolean;
  ipAddressValue?: { value: Buffer };
  timestampValue?: { value?: Date };
  durationValue?: { value?: { seconds: number; nanos: number } };
  emailAddressValue?: { value: string };
  dnsNameValue?: { value: string };
  uriValue?: { value: string };
}

/**
 * SDK value → wire value. Whole numbers travel as int64, others as double; STRING_MAP has no field in Istio 1.4's
 * Value, so a string map travels as its text form (`k=v&k2=v2`, what `valueToString` gives).
 */
export function valueToWire(v: Value): WireValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { int64Value: v } : { doubleValue: v };
  if (v instanceof Date) return { timestampValue: { value: v } };
  if (v instanceof Uint8Array) return { ipAddressValue: { value: Buffer.from(v) } };
  if (isDuration(v)) return { durationValue: { value: { seconds: v.seconds, nanos: v.nanos } } };
  return { stringValue: valueToString(v) };
}

/** Wire value → SDK value; an empty oneof becomes the empty string. */
export function valueFromWire(w: WireValue | undefined): Value {
  if (!w) return '';
  if (w.stringValue !== undefined) return w.stringValue;
  if (w.int64Value !== undefined) return w.int64Value;
  if (w.doubleValue !== undefined) return w.doubleValue;
  if (w.boolValue !== undefined) return w.boolValue;
  if (w.ipAddressValue !== undefined) return new Uint8Array(w.ipAddressValue.value);
  if (w.timestampValue !== undefined) return w.timestampValue.value ?? new Date(0);
  if (w.durationValue !== undefined) {
    const d = w.durationValue.value;
    return { seconds: d?.seconds ?? 0, nanos: d?.nanos ?? 0 };
  }
  if (w.emailAddressValue !== undefined) return w.emailAddressValue.value;
  if (w.dnsNameValue !== undefined) return w.dnsNameValue.value;
  if (w.uriValue !== undefined) return w.uriValue.value;
  return '';
}

function mapToWire(m: Readonly<Record<string, Value>> | undefined): Record<string, WireValue> {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, valueToWire(v)]));
}

function mapFromWire(m: Record<string, WireValue> | undefined): Record<string, Value> {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, valueFromWire(v)]));
}

/**
 * One instance as its template's InstanceMsg (a plain object that each template's `fromPartial` accepts). The
 * instance comes from mixer's compiled instance, so fields a config left out may be missing: they get defaults.
 */
export function instanceToWire(template: TemplateName, instance: InstanceOf[TemplateName]): object {
  switch (template) {
    case 'checknothing':
    case 'reportnothing':
      return { name: instance.name };
    case 'listentry':
      return { name: instance.name, value: (instance as InstanceOf['listentry']).value ?? '' };
    case 'authorization': {
      const a = instance as Partial<AuthorizationInstance> & { name: string };
      return {
        name: a.name,
        subject: {
          user: a.subject?.user ?? '',
          groups: a.subject?.groups ?? '',
          properties: mapToWire(a.subject?.properties),
        },
        action: {
          namespace: a.action?.namespace ?? '',
          service: a.action?.service ?? '',
          method: a.action?.method ?? '',
          path: a.action?.path ?? '',
          properties: mapToWire(a.action?.properties),
        },
      } satisfies Omit<authorizationTemplate.InstanceMsg, '$type'>;
    }
    case 'quota':
      return {
        name: instance.name,
        dimensions: mapToWire((instance as QuotaInstance).dimensions),
      } satisfies Omit<quotaTemplate.InstanceMsg, '$type'>;
    case 'metric': {
      const m = instance as Partial<MetricInstance> & { name: string };
      return {
        name: m.name,
        value: m.value === undefined ? undefined : valueToWire(m.value),
        dimensions: mapToWire(m.dimensions),
        monitoredResourceType: m.monitoredResourceType ?? '',
        monitoredResourceDimensions: mapToWire(m.monitoredResourceDimensions),
      } satisfies Omit<metricTemplate.InstanceMsg, '$type'>;
    }
    case 'logentry': {
      const l = instance as Partial<LogEntryInstance> & { name: string };
      return {
        name: l.name,
        variables: mapToWire(l.variables),
        timestamp: l.timestamp ? { value: l.timestamp } : undefined,
        severity: l.severity ?? '',
        monitoredResourceType: l.monitoredResourceType ?? '',
        monitoredResourceDimensions: mapToWire(l.monitoredResourceDimensions),
      } satisfies Omit<logentryTemplate.InstanceMsg, '$type'>;
    }
  }
}

/** A decoded InstanceMsg of `template` → the SDK instance a handler takes. */
export function instanceFromWire<T extends TemplateName>(template: T, msg: object): InstanceOf[T] {
  const m = msg as Record<string, unknown> & { name: string };
  switch (template) {
    case 'checknothing':
    case 'reportnothing':
      return { name: m.name } as InstanceOf[T];
    case 'listentry':
      return { name: m.name, value: m.value as string } as InstanceOf[T];
    case 'authorization': {
      const a = msg as authorizationTemplate.InstanceMsg;
      const instance: AuthorizationInstance = {
        name: a.name,
        subject: {
          user: a.subject?.user ?? '',
          groups: a.subject?.groups ?? '',
          properties: mapFromWire(a.subject?.properties),
        },
        action: {
          namespace: a.action?.namespace ?? '',
          service: a.action?.service ?? '',
          method: a.action?.method ?? '',
          path: a.action?.path ?? '',
          properties: mapFromWire(a.action?.properties),
        },
      };
      return instance as InstanceOf[T];
    }
    case 'quota': {
      const q = msg as quotaTemplate.InstanceMsg;
      const instance: QuotaInstance = { name: q.name, dimensions: mapFromWire(q.dimensions) };
      return instance as InstanceOf[T];
    }
    case 'metric': {
      const mm = msg as metricTemplate.InstanceMsg;
      const instance: MetricInstance = {
        name: mm.name,
        value: valueFromWire(mm.value),
        dimensions: mapFromWire(mm.dimensions),
        monitoredResourceType: mm.monitoredResourceType,
        monitoredResourceDimensions: mapFromWire(mm.monitoredResourceDimensions),
      };
      return instance as InstanceOf[T];
    }
    case 'logentry': {
      const l = msg as logentryTemplate.InstanceMsg;
      const instance: LogEntryInstance = {
        name: l.name,
        variables: mapFromWire(l.variables),
        timestamp: l.timestamp?.value ?? new Date(0),
        severity: l.severity,
        monitoredResourceType: l.monitoredResourceType,
        monitoredResourceDimensions: mapFromWire(l.monitoredResourceDimensions),
      };
      return instance as InstanceOf[T];
    }
  }
  throw new Error(`unknown template ${String(template)}`);
}

export function checkResultToWire(r: CheckResult): Omit<adapterCheck.CheckResult, '$type'> {
  return {
    status: { code: r.status.code, message: r.status.message, details: [] },
    validDuration: durationFromMs(r.validDurationMs),
    validUseCount: r.validUseCount,
  };
}

export function checkResultFromWire(w: adapterCheck.CheckResult): CheckResult {
  return {
    status: w.status ? status(w.status.code, w.status.message) : OK,
    validDurationMs: w.validDuration ? durationToMs(w.validDuration) : 0,
    validUseCount: w.validUseCount,
  };
}

/** The quota request of one allocation: Istio keys it by the instance's name. */
export function quotaRequestToWire(instanceName: string, args: QuotaArgs): adapterQuota.QuotaRequest {
  return { quotas: { [instanceName]: { amount: args.amount, bestEffort: args.bestEffort } } };
}

/** The allocation asked of `instanceName` in a quota request; amount 1 when the request does not say. */
export function quotaArgsFromWire(
  instanceName: string,
  request: adapterQuota.QuotaRequest | undefined,
  dedupId: string,
): QuotaArgs {
  const params = request?.quotas[instanceName];
  return { deduplicationId: dedupId, amount: params?.amount ?? 1, bestEffort: params?.bestEffort ?? false };
}

export function quotaResultToWire(instanceName: string, r: QuotaResult): adapterQuota.QuotaResult {
  return {
    quotas: {
      [instanceName]: { validDuration: durationFromMs(r.validDurationMs), grantedAmount: r.amount },
    },
  };
}

/**
 * Istio 1.4's QuotaResult carries no status: a grant of 0 for a request of more is a refusal
 * (RESOURCE_EXHAUSTED); a best-effort grant of less than asked is still OK.
 */
export function quotaResultFromWire(
  instanceName: string,
  args: QuotaArgs,
  w: adapterQuota.QuotaResult,
): QuotaResult {
  const result = w.quotas[instanceName];
  const amount = result?.grantedAmount ?? 0;
  const validDurationMs = result?.validDuration ? durationToMs(result.validDuration) : 0;
  const refused = amount === 0 ? args.amount > 0 : !args.bestEffort && amount < args.amount;
  return refused
    ? {
        status: status(Code.RESOURCE_EXHAUSTED, `quota ${instanceName}: granted ${amount} of ${args.amount}`),
        amount: 0,
        validDurationMs,
      }
    : { status: OK, amount, validDurationMs };
}

/** A handler's params (YAML, so JSON-shaped) packed as Any of google.protobuf.Struct: the adapter_config. */
export function paramsToAdapterConfig(params: unknown): protobufAny.Any {
  const obj = params && typeof params === 'object' && !Array.isArray(params) ? params : {};
  return packAny(protobufStruct.Struct, protobufStruct.Struct.wrap(obj as Record<string, unknown>));
}

/** adapter_config back to params; absent means no params. Throws UnpackError for anything but a Struct. */
export function paramsFromAdapterConfig(any: protobufAny.Any | undefined): Record<string, unknown> {
  if (!any || (any.typeUrl === '' && any.value.length === 0)) return {};
  return protobufStruct.Struct.unwrap(unpackAny(any, protobufStruct.Struct)) as Record<string, unknown>;
}

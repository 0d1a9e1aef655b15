import type { Status } from './status';
import type { Value } from './values';

/**
 * The templates mixer compiles instances of (Istio 1.4 mixer/template and mixer/adapter/... templates). Each
 * instance is built per request from the instance config's expressions, and handed to the handlers that rules
 * route it to.
 */
export const TEMPLATE_NAMES = [
  'checknothing',
  'listentry',
  'authorization',
  'quota',
  'metric',
  'logentry',
  'reportnothing',
] as const;

export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** When a template's instances are dispatched: Check (preconditions), Quota (allocation) or Report (telemetry). */
export type TemplateVariety = 'check' | 'quota' | 'report';

export const TEMPLATE_VARIETY: Readonly<Record<TemplateName, TemplateVariety>> = {
  checknothing: 'check',
  listentry: 'check',
  authorization: 'check',
  quota: 'quota',
  metric: 'report',
  logentry: 'report',
  reportnothing: 'report',
};

export function isTemplateName(name: string): name is TemplateName {
  return (TEMPLATE_NAMES as readonly string[]).includes(name);
}

interface InstanceBase {
  /** The instance's fully qualified config name (name.namespace). */
  readonly name: string;
}

/** checknothing: no fields; a rule's condition alone decides (used with denier). */
export type CheckNothingInstance = InstanceBase;

/** reportnothing: no fields. */
export type ReportNothingInstance = InstanceBase;

/** listentry: one string looked up in a list. */
export interface ListEntryInstance extends InstanceBase {
  readonly value: string;
}

export interface Subject {
  readonly user: string;
  readonly groups: string;
  readonly properties: Readonly<Record<string, Value>>;
}

export interface Action {
  readonly namespace: string;
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly properties: Readonly<Record<string, Value>>;
}

/** authorization: who (subject) does what (action). */
export interface AuthorizationInstance extends InstanceBase {
  readonly subject: Subject;
  readonly action: Action;
}

/** quota: the dimensions that pick a quota bucket. */
export interface QuotaInstance extends InstanceBase {
  readonly dimensions: Readonly<Record<string, Value>>;
}

/** metric: one observation with its dimensions (labels). */
export interface MetricInstance extends InstanceBase {
  readonly value: Value;
  readonly dimensions: Readonly<Record<string, Value>>;
  readonly monitoredResourceType: string;
  readonly monitoredResourceDimensions: Readonly<Record<string, Value>>;
}

/** logentry: one log record. */
export interface LogEntryInstance extends InstanceBase {
  readonly variables: Readonly<Record<string, Value>>;
  readonly timestamp: Date;
  readonly severity: string;
  readonly monitoredResourceType: string;
  readonly monitoredResourceDimensions: Readonly<Record<string, Value>>;
}

export interface InstanceOf {
  checknothing: CheckNothingInstance;
  listentry: ListEntryInstance;
  authorization: AuthorizationInstance;
  quota: QuotaInstance;
  metric: MetricInstance;
  logentry: LogEntryInstance;
  reportnothing: ReportNothingInstance;
}

/** What a check handler answers: a status and how long / how often the caller may reuse it. */
export interface CheckResult {
  readonly status: Status;
  /** Milliseconds the result may be cached. */
  readonly validDurationMs: number;
  /** Number of requests the result may be applied to. */
  readonly validUseCount: number;
}

export interface QuotaArgs {
  /** Same on retries of one request, so an allocation is not counted twice. */
  readonly deduplicationId: string;
  /** How much to allocate. */
  readonly amount: number;
  /** Grant what is left (up to `amount`) instead of all or nothing. */
  readonly bestEffort: boolean;
}

export interface QuotaResult {
  readonly status: Status;
  /** Milliseconds the grant is valid for (the rest of the window). */
  readonly validDurationMs: number;
  /** How much was granted (0 when refused). */
  readonly amount: number;
  /** The bucket's limit, when the adapter knows it (Envoy's rate-limit answer carries it). */
  readonly limit?: number;
  /** What is left in the bucket after this allocation, when known. */
  readonly remaining?: number;
  /** The bucket's window length, when it has one. */
  readonly windowMs?: number;
}

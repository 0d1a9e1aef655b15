/**
 * The out-of-process adapter service of each template (Istio 1.4: one gRPC service per template, e.g.
 * /listentry.HandleListEntryService/HandleListEntry): its definition for grpc-js, and how to make its request from
 * an instance (or a batch of report instances) and the handler's packed params.
 */
import {
  authorizationTemplate,
  checknothingTemplate,
  listentryTemplate,
  logentryTemplate,
  metricTemplate,
  quotaTemplate,
  reportnothingTemplate,
} from '@flotilla/proto';
import type { adapterQuota, protobufAny } from '@flotilla/proto';
import type { MethodDefinition } from '@grpc/grpc-js';
import { HANDLER_METHOD } from '../handler';
import type { TemplateName } from '../templates';

/** What every template's request has, whatever its instance type. */
export interface WireRequest {
  /** Check and quota templates: one instance. */
  instance?: object;
  /** Report templates: every instance of one Report. */
  instances?: object[];
  adapterConfig?: protobufAny.Any;
  dedupId: string;
  /** Quota only. */
  quotaRequest?: adapterQuota.QuotaRequest;
}

export interface TemplateService {
  /** The gRPC service's full name, e.g. "listentry.HandleListEntryService". */
  readonly serviceName: string;
  /** The method's name in grpc-js service definitions and handler objects (handleListEntry). */
  readonly method: string;
  readonly definition: Readonly<Record<string, MethodDefinition<unknown, unknown>>>;
  /** The full request message from its parts (missing fields get their proto defaults). */
  request(parts: Omit<WireRequest, 'dedupId'> & { dedupId?: string }): unknown;
}

/** `definition` is one generated `…ServiceService` object: one method whose types differ per template. */
function service(
  serviceName: string,
  definition: object,
  fromPartial: (parts: never) => unknown,
  template: TemplateName,
): TemplateService {
  return {
    serviceName,
    method: HANDLER_METHOD[template],
    definition: definition as unknown as TemplateService['definition'],
    request: (parts) => (fromPartial as (p: unknown) => unknown)(parts),
  };
}

export const TEMPLATE_SERVICES: Readonly<Record<TemplateName, TemplateService>> = {
  checknothing: service(
    'checknothing.HandleCheckNothingService',
    checknothingTemplate.HandleCheckNothingServiceService,
    checknothingTemplate.HandleCheckNothingRequest.fromPartial,
    'checknothing',
  ),
  listentry: service(
    'listentry.HandleListEntryService',
    listentryTemplate.HandleListEntryServiceService,
    listentryTemplate.HandleListEntryRequest.fromPartial,
    'listentry',
  ),
  authorization: service(
    'authorization.HandleAuthorizationService',
    authorizationTemplate.HandleAuthorizationServiceService,
    authorizationTemplate.HandleAuthorizationRequest.fromPartial,
    'authorization',
  ),
  quota: service(
    'quota.HandleQuotaService',
    quotaTemplate.HandleQuotaServiceService,
    quotaTemplate.HandleQuotaRequest.fromPartial,
    'quota',
  ),
  metric: service(
    'metric.HandleMetricService',
    metricTemplate.HandleMetricServiceService,
    metricTemplate.HandleMetricRequest.fromPartial,
    'metric',
  ),
  logentry: service(
    'logentry.HandleLogEntryService',
    logentryTemplate.HandleLogEntryServiceService,
    logentryTemplate.HandleLogEntryRequest.fromPartial,
    'logentry',
  ),
  reportnothing: service(
    'reportnothing.HandleReportNothingService',
    reportnothingTemplate.HandleReportNothingServiceService,
    reportnothingTemplate.HandleReportNothingRequest.fromPartial,
    'reportnothing',
  ),
};

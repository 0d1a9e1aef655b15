/**
 * Out-of-process adapters (Istio 1.4's "gRPC adapter" model): a handler whose config has `connection.address` is
 * not built in mixer; each instance routed to it becomes a call of that template's adapter service
 * (/listentry.HandleListEntryService/HandleListEntry, …) at the address, carrying the instance and the handler's
 * params as adapter_config, under a deadline. The adapter can be written in any language; `serveAdapter` from the
 * SDK runs an SDK adapter this way.
 *
 * A call that fails never throws into a Check: it becomes a status naming the handler and the address, valid for
 * no time and no uses so that clients do not cache it.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  Code,
  TEMPLATE_NAMES,
  TEMPLATE_SERVICES,
  checkResultFromWire,
  instanceToWire,
  paramsToAdapterConfig,
  quotaRequestToWire,
  quotaResultFromWire,
  status,
} from '@flotilla/mixer-adapter-sdk';
import type {
  Adapter,
  AuthorizationHandler,
  CheckNothingHandler,
  CheckResult,
  InstanceOf,
  ListEntryHandler,
  LogEntryHandler,
  MetricHandler,
  QuotaArgs,
  QuotaHandler,
  QuotaInstance,
  QuotaResult,
  ReportNothingHandler,
  Status,
  TemplateName,
} from '@flotilla/mixer-adapter-sdk';
import type { adapterCheck, adapterQuota, protobufAny } from '@flotilla/proto';

/** How long mixer waits for an out-of-process adapter when the handler's connection.timeout does not say. */
export const DEFAULT_REMOTE_TIMEOUT_MS = 2000;

export interface RemoteConnection {
  /** host:port of the adapter's gRPC server. */
  readonly address: string;
  /** Deadline of every call. */
  readonly timeoutMs: number;
}

export type RemoteHandler = CheckNothingHandler &
  ListEntryHandler &
  AuthorizationHandler &
  QuotaHandler &
  MetricHandler &
  LogEntryHandler &
  ReportNothingHandler;

/**
 * What a failed call means for a Check or a quota: the adapter could not be reached or did not answer in time →
 * UNAVAILABLE or DEADLINE_EXCEEDED; an error the adapter itself answered (bad params → INVALID_ARGUMENT, a template
 * it does not serve → UNIMPLEMENTED, …) keeps the adapter's code and message.
 */
export function remoteFailureStatus(
  err: Partial<grpc.ServiceError>,
  handlerName: string,
  connection: RemoteConnection,
): Status {
  const where = `out-of-process adapter of handler ${handlerName} at ${connection.address}`;
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return status(Code.UNAVAILABLE, `${where} is unreachable: ${err.details ?? err.message}`);
    case grpc.status.DEADLINE_EXCEEDED:
      return status(Code.DEADLINE_EXCEEDED, `${where} did not answer within ${connection.timeoutMs} ms`);
    case undefined:
      return status(Code.INTERNAL, `${where}: ${err.message ?? 'call failed'}`);
    default:
      return status(err.code, `${where}: ${err.details ?? err.message}`);
  }
}

class RemoteAdapterHandler implements RemoteHandler {
  private readonly client: grpc.Client;
  private readonly adapterConfig: protobufAny.Any;

  constructor(
    params: unknown,
    private readonly handlerName: string,
    private readonly connection: RemoteConnection,
  ) {
    this.client = new grpc.Client(connection.address, grpc.credentials.createInsecure());
    this.adapterConfig = paramsToAdapterConfig(params);
  }

  /** One unary call of `template`'s service; rejects with the gRPC error. */
  private call<R>(template: TemplateName, parts: object): Promise<R> {
    const service = TEMPLATE_SERVICES[template];
    const method = service.definition[service.method];
    const request = service.request({ ...parts, adapterConfig: this.adapterConfig });
    return new Promise<R>((resolve, reject) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + this.connection.timeoutMs },
        (err, response) => (err ? reject(err) : resolve(response as R)),
      );
    });
  }

  private async check(template: TemplateName, instance: InstanceOf[TemplateName]): Promise<CheckResult> {
    try {
      const wire = await this.call<adapterCheck.CheckResult>(template, {
        instance: instanceToWire(template, instance),
        dedupId: randomUUID(),
      });
      return checkResultFromWire(wire);
    } catch (err) {
      return {
        status: remoteFailureStatus(err as grpc.ServiceError, this.handlerName, this.connection),
        validDurationMs: 0,
        validUseCount: 0,
      };
    }
  }

  private async report(
    template: TemplateName,
    instances: readonly InstanceOf[TemplateName][],
  ): Promise<void> {
    try {
      await this.call(template, {
        instances: instances.map((i) => instanceToWire(template, i)),
        dedupId: randomUUID(),
      });
    } catch (err) {
      // Report failures are collected by the runtime and logged; telemetry is best-effort.
      throw new Error(
        remoteFailureStatus(err as grpc.ServiceError, this.handlerName, this.connection).message,
      );
    }
  }

  handleCheckNothing(instance: InstanceOf['checknothing']): Promise<CheckResult> {
    return this.check('checknothing', instance);
  }

  handleListEntry(instance: InstanceOf['listentry']): Promise<CheckResult> {
    return this.check('listentry', instance);
  }

  handleAuthorization(instance: InstanceOf['authorization']): Promise<CheckResult> {
    return this.check('authorization', instance);
  }

  async handleQuota(instance: QuotaInstance, args: QuotaArgs): Promise<QuotaResult> {
    try {
      const wire = await this.call<adapterQuota.QuotaResult>('quota', {
        instance: instanceToWire('quota', instance),
        dedupId: args.deduplicationId,
        quotaRequest: quotaRequestToWire(instance.name, args),
      });
      return quotaResultFromWire(instance.name, args, wire);
    } catch (err) {
      return {
        status: remoteFailureStatus(err as grpc.ServiceError, this.handlerName, this.connection),
        amount: 0,
        validDurationMs: 0,
      };
    }
  }

  handleMetric(instances: readonly InstanceOf['metric'][]): Promise<void> {
    return this.report('metric', instances);
  }

  handleLogEntry(instances: readonly InstanceOf['logentry'][]): Promise<void> {
    return this.report('logentry', instances);
  }

  handleReportNothing(instances: readonly InstanceOf['reportnothing'][]): Promise<void> {
    return this.report('reportnothing', instances);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/**
 * The adapter of a handler with `connection`: it takes every template (the remote service answers UNIMPLEMENTED
 * for those it does not serve), leaves params to the remote adapter to validate, and builds a handler that calls
 * the address.
 */
export function remoteAdapter(name: string, connection: RemoteConnection): Adapter<unknown, RemoteHandler> {
  return {
    name,
    description: `out-of-process adapter at ${connection.address}`,
    templates: TEMPLATE_NAMES,
    validate: (params) => params,
    build: async (params, env) => new RemoteAdapterHandler(params, env.handlerName, connection),
  };
}

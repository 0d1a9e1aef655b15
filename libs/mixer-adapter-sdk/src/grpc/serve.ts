/**
 * Runs an SDK adapter out of process: a gRPC server with Istio 1.4's adapter service for each template the adapter
 * declares (HandleListEntryService, HandleQuotaService, …). Mixer calls it for handlers whose config has
 * `connection.address`; the handler's params arrive in every request as adapter_config, and one handler is built
 * per distinct params and reused.
 *
 *   const server = await serveAdapter(myAdapter, { port: 5000 });
 *   // … later
 *   await server.close();
 */
import * as grpc from '@grpc/grpc-js';
import { UnpackError } from '@flotilla/proto';
import type { protobufAny } from '@flotilla/proto';
import type { Adapter, AdapterLogger } from '../adapter';
import { silentLogger } from '../adapter';
import { handlesTemplate } from '../handler';
import type { Handler } from '../handler';
import { ParamsError } from '../params';
import { TEMPLATE_VARIETY } from '../templates';
import type { CheckResult, QuotaInstance, QuotaResult, TemplateName } from '../templates';
import { TEMPLATE_SERVICES } from './services';
import type { WireRequest } from './services';
import {
  checkResultToWire,
  instanceFromWire,
  paramsFromAdapterConfig,
  quotaArgsFromWire,
  quotaResultToWire,
} from './wire';

export interface ServeOptions {
  /** 0 picks a free port (see AdapterServer.port). */
  readonly port: number;
  /** Default 127.0.0.1; "0.0.0.0" or "[::]" to be reachable from other hosts. */
  readonly host?: string;
  readonly logger?: AdapterLogger;
}

export interface AdapterServer {
  readonly port: number;
  /** host:port to put in a handler's connection.address. */
  readonly address: string;
  /** Stops taking calls, waits for the calls in flight, and closes every handler built. */
  close(): Promise<void>;
}

/** A failure that becomes the call's gRPC status (never a stack trace). */
class CallError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export async function serveAdapter(adapter: Adapter, options: ServeOptions): Promise<AdapterServer> {
  const logger = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const handlers = new Map<string, Promise<Handler>>();

  /** The handler for these params: built on first use, then shared by every call carrying the same config. */
  const handlerFor = (config: protobufAny.Any | undefined): Promise<Handler> => {
    const key = config ? `${config.typeUrl} ${Buffer.from(config.value).toString('base64')}` : '';
    let handler = handlers.get(key);
    if (!handler) {
      handler = (async () => {
        let params: unknown;
        try {
          params = adapter.validate(paramsFromAdapterConfig(config));
        } catch (err) {
          if (err instanceof ParamsError || err instanceof UnpackError)
            throw new CallError(
              grpc.status.INVALID_ARGUMENT,
              `invalid params for ${adapter.name}: ${err.message}`,
            );
          throw err;
        }
        return adapter.build(params, { logger, handlerName: `${adapter.name} (out of process)` });
      })();
      handlers.set(key, handler);
      // A handler that failed to build is not kept: the next call tries again.
      handler.catch(() => handlers.delete(key));
    }
    return handler;
  };

  const implementation = (template: TemplateName): grpc.UntypedHandleCall => {
    const method = TEMPLATE_SERVICES[template].method;
    const variety = TEMPLATE_VARIETY[template];
    return (
      call: grpc.ServerUnaryCall<WireRequest, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ): void => {
      const request = call.request;
      void (async () => {
        const handler = await handlerFor(request.adapterConfig);
        if (!handlesTemplate(handler, template))
          throw new CallError(grpc.status.UNIMPLEMENTED, `${adapter.name}'s handler lacks ${method}`);
        const fn = (handler as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method];
        if (variety === 'report') {
          const instances = (request.instances ?? []).map((i) => instanceFromWire(template, i));
          await fn.call(handler, instances);
          return {};
        }
        const instance = instanceFromWire(template, request.instance ?? {});
        if (variety === 'quota') {
          const q = instance as QuotaInstance;
          const args = quotaArgsFromWire(q.name, request.quotaRequest, request.dedupId);
          return quotaResultToWire(q.name, (await fn.call(handler, q, args)) as QuotaResult);
        }
        return checkResultToWire((await fn.call(handler, instance)) as CheckResult);
      })().then(
        (response) => callback(null, response),
        (err: Error) => {
          const code = err instanceof CallError ? err.code : grpc.status.INTERNAL;
          if (!(err instanceof CallError))
            logger.warn({ template, err: err.message }, 'out-of-process handler failed');
          callback({
            code,
            details: err instanceof CallError ? err.message : `${adapter.name}: ${err.message}`,
          });
        },
      );
    };
  };

  const server = new grpc.Server();
  for (const template of adapter.templates) {
    const { definition, method } = TEMPLATE_SERVICES[template];
    server.addService(definition, { [method]: implementation(template) });
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  logger.info({ adapter: adapter.name, port, templates: adapter.templates }, 'serving adapter');
  return {
    port,
    address: `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const built = await Promise.allSettled(handlers.values());
      handlers.clear();
      for (const b of built) if (b.status === 'fulfilled') await b.value.close();
    },
  };
}

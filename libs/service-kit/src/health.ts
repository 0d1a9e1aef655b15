import type { ServerWritableStream, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { health } from '@flotilla/proto';

const { ServingStatus } = { ServingStatus: health.HealthCheckResponse_ServingStatus };
export type ServingStatus = health.HealthCheckResponse_ServingStatus;
export { ServingStatus };

/**
 * grpc.health.v1.Health. The empty service name "" is the server as a whole; each served gRPC service is
 * registered under its full name. Watch streams get the current status and every change, as the gRPC health
 * checking protocol specifies; an unknown service is SERVICE_UNKNOWN for Watch and NOT_FOUND for Check.
 */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<
    string,
    Set<ServerWritableStream<health.HealthCheckRequest, health.HealthCheckResponse>>
  >();

  constructor() {
    this.statuses.set('', ServingStatus.NOT_SERVING);
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const call of this.watchers.get(service) ?? []) call.write({ status });
  }

  /** Sets every registered service (and the server, "") to one status: used at start-up and at shutdown. */
  setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) this.setStatus(service, status);
  }

  statusOf(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends every Watch stream, so that a graceful shutdown is not held open by health watchers. */
  endWatches(): void {
    for (const calls of this.watchers.values()) for (const call of calls) call.end();
    this.watchers.clear();
  }

  readonly implementation: health.HealthServer = {
    check: (
      call: ServerUnaryCall<health.HealthCheckRequest, health.HealthCheckResponse>,
      callback: sendUnaryData<health.HealthCheckResponse>,
    ) => {
      const status = this.statuses.get(call.request.service);
      if (status === undefined) {
        callback({
          code: GrpcStatus.NOT_FOUND,
          details: `unknown service ${JSON.stringify(call.request.service)}`,
        });
        return;
      }
      callback(null, { status });
    },
    watch: (call: ServerWritableStream<health.HealthCheckRequest, health.HealthCheckResponse>) => {
      const service = call.request.service;
      let calls = this.watchers.get(service);
      if (!calls) this.watchers.set(service, (calls = new Set()));
      calls.add(call);
      call.on('cancelled', () => calls.delete(call));
      call.on('close', () => calls.delete(call));
      call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
    },
  };
}

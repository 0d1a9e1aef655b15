import type * as otel from './otel';

type OtelModule = typeof otel;

export interface Tracing {
  /** Whether spans are exported (OTEL_EXPORTER_OTLP_ENDPOINT or …_TRACES_ENDPOINT was set). */
  readonly enabled: boolean;
  /** Flushes pending spans; never throws (telemetry must not fail the caller). */
  shutdown(): Promise<void>;
}

/**
 * Turns on OpenTelemetry tracing through gRPC (client and server spans, W3C trace context) with an OTLP/gRPC
 * exporter, only when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set;
 * the exporter reads the rest of the OTEL_* variables itself.
 *
 * Call it before anything loads @grpc/grpc-js: the gRPC instrumentation patches the module as it is required.
 */
export function startTracing(
  serviceName: string,
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): Tracing {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return { enabled: false, shutdown: async () => undefined };
  // Loaded synchronously, and only now: the SDK must patch @grpc/grpc-js before anything requires it, and
  // loading it when tracing is off would cost every component ~80 ms of start-up.
  const { startOpenTelemetry } = require('./otel') as OtelModule;
  return startOpenTelemetry(serviceName, version, env);
}

import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

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

  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || `flotilla-${serviceName}`,
      [ATTR_SERVICE_VERSION]: version,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  const unregister = registerInstrumentations({ instrumentations: [new GrpcInstrumentation()] });
  return {
    enabled: true,
    shutdown: async () => {
      try {
        unregister();
        await provider.shutdown();
      } catch (err) {
        diag.warn(`tracing shutdown failed: ${(err as Error).message}`);
      }
    },
  };
}

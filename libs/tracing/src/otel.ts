import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Tracing } from './tracing';

/** The OpenTelemetry SDK wiring, loaded only when tracing is on (it costs ~80 ms of module loading). */
export function startOpenTelemetry(serviceName: string, version: string, env: NodeJS.ProcessEnv): Tracing {
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

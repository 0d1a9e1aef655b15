/**
 * A server-side interceptor for a workload's unary gRPC handlers (the proxyless mesh's stand-in for the sidecar's
 * mixer filter): Check before the handler runs — a denial is returned as the gRPC status mixer gave — and one
 * report entry after it answers. Typed structurally, so any @grpc/grpc-js handleUnaryCall fits without this lib
 * depending on grpc-js.
 */
import type { AttributeValue } from './attributes';
import type { MixerClient, QuotaSpec } from './client';

/** What the interceptor reads from a grpc-js ServerUnaryCall. */
export interface UnaryCallLike {
  getPath(): string;
  readonly metadata: { getMap(): Record<string, string | Buffer> };
}

/** The error a denied call is answered with (a grpc-js ServerStatusResponse). */
export interface CallStatus {
  code: number;
  details: string;
}

export interface InterceptorOptions {
  /** Attributes of every call (destination.service.host, destination.workload.name, source.principal…). */
  attributes?: Readonly<Record<string, AttributeValue>>;
  /** The quotas each call takes. */
  quotas?: (attrs: ReadonlyMap<string, AttributeValue>) => readonly QuotaSpec[];
  /** Let calls through when mixer cannot be reached (default: answer UNAVAILABLE). */
  failOpen?: boolean;
}

const UNAVAILABLE = 14;
const UNKNOWN = 2;

/** Wraps one unary handler: `server.addService(svc, { check: withMixer(client, impl.check) })`. */
export function withMixer<
  Call extends UnaryCallLike,
  Callback extends (error: CallStatus | null, ...rest: never[]) => void,
>(
  client: MixerClient,
  handler: (call: Call, callback: Callback) => void,
  options: InterceptorOptions = {},
): (call: Call, callback: Callback) => void {
  return (call, callback) => {
    const started = Date.now();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) if (typeof v === 'string') headers[k] = v;
    const attrs = new Map<string, AttributeValue>(Object.entries(options.attributes ?? {}));
    attrs.set('context.protocol', 'grpc');
    attrs.set('request.path', call.getPath());
    attrs.set('request.method', 'POST');
    attrs.set('request.headers', headers);
    attrs.set('request.time', new Date(started));
    const quotas = options.quotas?.(attrs) ?? [];
    void client.check(attrs, quotas).then(
      (outcome) => {
        if (outcome.code !== 0) {
          callback({ code: outcome.code, details: outcome.message });
          return;
        }
        run();
      },
      (err: unknown) => {
        if (options.failOpen) run();
        else callback({ code: UNAVAILABLE, details: `mixer check failed: ${(err as Error).message}` });
      },
    );
    const run = () => {
      const done = (error: { code?: number } | null, ...rest: never[]) => {
        const ms = Date.now() - started;
        const report = new Map(attrs);
        report.set('response.grpc_status', String(error ? (error.code ?? UNKNOWN) : 0));
        report.set('response.code', error ? 500 : 200);
        report.set('response.duration', { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
        try {
          client.report(report);
        } catch {
          // the client is closed: the call still gets its answer
        }
        (callback as (error: unknown, ...rest: never[]) => void)(error, ...rest);
      };
      handler(call, done as unknown as Callback);
    };
  };
}

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

export interface InterceptorOptions<Call = UnaryCallLike> {
  /** Attributes of every call (destination.service.host, destination.workload.name…). */
  attributes?: Readonly<Record<string, AttributeValue>>;
  /** Attributes read from each call (source.principal from the mTLS peer…); undefined values are left out. */
  callAttributes?: (call: Call) => Readonly<Record<string, AttributeValue | undefined>>;
  /** The quotas each call takes. */
  quotas?: (attrs: ReadonlyMap<string, AttributeValue>) => readonly QuotaSpec[];
  /** Let calls through when mixer cannot be reached (default: answer UNAVAILABLE). */
  failOpen?: boolean;
}

const UNAVAILABLE = 14;
const UNKNOWN = 2;

/**
 * The HTTP status a gRPC status code stands for in response.code, after the mapping in google/rpc/code.proto
 * (OK 200, PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503…); codes it does not name are 500.
 */
const HTTP_STATUS_OF_GRPC: Readonly<Record<number, number>> = {
  0: 200,
  1: 499,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  14: 503,
  16: 401,
};

function httpStatusOf(grpcCode: number): number {
  return HTTP_STATUS_OF_GRPC[grpcCode] ?? 500;
}

/** Wraps one unary handler: `server.addService(svc, { check: withMixer(client, impl.check) })`. */
export function withMixer<
  Call extends UnaryCallLike,
  Callback extends (error: CallStatus | null, ...rest: never[]) => void,
>(
  client: MixerClient,
  handler: (call: Call, callback: Callback) => void,
  options: InterceptorOptions<Call> = {},
): (call: Call, callback: Callback) => void {
  return (call, callback) => {
    const started = Date.now();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) if (typeof v === 'string') headers[k] = v;
    const attrs = new Map<string, AttributeValue>(Object.entries(options.attributes ?? {}));
    for (const [name, value] of Object.entries(options.callAttributes?.(call) ?? {}))
      if (value !== undefined) attrs.set(name, value);
    attrs.set('context.protocol', 'grpc');
    attrs.set('request.path', call.getPath());
    attrs.set('request.method', 'POST');
    attrs.set('request.headers', headers);
    attrs.set('request.time', new Date(started));
    const quotas = options.quotas?.(attrs) ?? [];
    // Every call is reported, denied ones too (as Istio's mixer filter does), once its status is known.
    const report = (code: number) => {
      const ms = Date.now() - started;
      const entry = new Map(attrs);
      entry.set('response.grpc_status', String(code));
      entry.set('response.code', httpStatusOf(code));
      entry.set('response.duration', { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
      try {
        client.report(entry);
      } catch {
        // the client is closed: the call still gets its answer
      }
    };
    const answer = callback as (error: unknown, ...rest: never[]) => void;
    const deny = (status: CallStatus) => {
      report(status.code);
      answer(status);
    };
    const run = () => {
      const done = (error: { code?: number } | null, ...rest: never[]) => {
        report(error ? (error.code ?? UNKNOWN) : 0);
        answer(error, ...rest);
      };
      handler(call, done as unknown as Callback);
    };
    void client.check(attrs, quotas).then(
      (outcome) => {
        if (outcome.code !== 0) deny({ code: outcome.code, details: outcome.message });
        else run();
      },
      (err: unknown) => {
        if (options.failOpen) run();
        else deny({ code: UNAVAILABLE, details: `mixer check failed: ${(err as Error).message}` });
      },
    );
  };
}

// Bookinfo as proxyless gRPC: productpage → details and reviews, reviews v2 → ratings, each workload a small
// grpc-js server on the port its WorkloadEntry in examples/bookinfo names, and every call between them dialed as
// xds:///<host>:9080 so that pilot's routes (the reviews VirtualService, the DestinationRule subsets) decide
// where it goes. A traffic loop calls productpage and counts which reviews version answered. How a workload
// serves and dials (mTLS from its mesh agent's files, or plaintext) is a WorkloadTransport (mesh-tls.ts).
import * as grpc from '@grpc/grpc-js';
import type { WorkloadTransport } from './mesh-tls';
import { serviceAccountOf, spiffeIdOf } from './mesh-tls';

const identity = (b: Buffer) => b;

export const BOOKINFO_SERVICE_NAME = 'flotilla.bookinfo.Bookinfo';

/** One unary method; the response names the workloads that served the call, e.g. `reviews-v2(ratings-v1)`. */
export const BOOKINFO_SERVICE = {
  call: {
    path: `/${BOOKINFO_SERVICE_NAME}/Call`,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as const;

const BookinfoClient = grpc.makeGenericClientConstructor(BOOKINFO_SERVICE, 'Bookinfo');

/** A client of the Bookinfo service at `target` (an xds:/// target, or host:port to dial one workload). */
export function bookinfoClient(
  target: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = {},
): grpc.Client {
  return new BookinfoClient(target, credentials, options);
}

export interface Workload {
  app: string;
  version: string;
  port: number;
  calls: string[];
}

/** The workloads of examples/bookinfo/workloads.yaml (reviews v1 shows no ratings, as in Istio's bookinfo). */
export const WORKLOADS: readonly Workload[] = [
  { app: 'productpage', version: 'v1', port: 19080, calls: ['details', 'reviews'] },
  { app: 'details', version: 'v1', port: 19081, calls: [] },
  { app: 'reviews', version: 'v1', port: 19082, calls: [] },
  { app: 'reviews', version: 'v2', port: 19083, calls: ['ratings'] },
  { app: 'ratings', version: 'v1', port: 19084, calls: [] },
];

export function serviceHost(app: string, namespace: string): string {
  return `${app}.${namespace}.svc.cluster.local`;
}

export function xdsTarget(app: string, namespace: string): string {
  return `xds:///${serviceHost(app, namespace)}:9080`;
}

export function call(
  client: grpc.Client,
  deadlineMs: number,
  metadata = new grpc.Metadata(),
): Promise<string> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      BOOKINFO_SERVICE.call.path,
      identity,
      identity,
      Buffer.alloc(0),
      metadata,
      { deadline: Date.now() + deadlineMs },
      (err, res) => (err ? reject(err) : resolve(res!.toString())),
    ),
  );
}

/**
 * One caller's xDS clients, one per app it calls, created on first use. Each calling workload has its own: its
 * connections carry its own certificate, and each expects the called app's identity of the server.
 */
export class Clients {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(
    private readonly namespace: string,
    private readonly transport: WorkloadTransport,
  ) {}

  get(app: string): grpc.Client {
    let client = this.clients.get(app);
    if (!client) {
      const expected = spiffeIdOf(this.namespace, serviceAccountOf(app));
      client = bookinfoClient(xdsTarget(app, this.namespace), this.transport.channel(expected));
      this.clients.set(app, client);
    }
    return client;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

export interface WorkloadServerOptions {
  host: string;
  /** Port to listen on; the workload's own port unless given (0: any free port, for tests). */
  port?: number;
  /** The workload's server credentials. */
  transport: WorkloadTransport;
  /** Its clients for the apps it calls. */
  clients: Clients;
  deadlineMs: number;
  /** Wraps the handler, e.g. in mixer's check and report (mixer-policy.ts). */
  guard?: (handler: grpc.handleUnaryCall<Buffer, Buffer>) => grpc.handleUnaryCall<Buffer, Buffer>;
}

/**
 * Starts one workload's server; its handler calls its dependencies through pilot and names who answered.
 * Resolves with the server and the port it listens on.
 */
export async function startWorkload(
  workload: Workload,
  options: WorkloadServerOptions,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  const self = `${workload.app}-${workload.version}`;
  const handler: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    // Headers that steer routing (end-user) travel on, as Istio's bookinfo forwards them.
    const forwarded = new grpc.Metadata();
    for (const value of call.metadata.get('end-user')) forwarded.set('end-user', value);
    void Promise.all(
      workload.calls.map((app) => callOrError(options.clients.get(app), app, options.deadlineMs, forwarded)),
    ).then((parts) => callback(null, Buffer.from(parts.length ? `${self}(${parts.join(',')})` : self)));
  };
  server.addService(BOOKINFO_SERVICE, { call: options.guard ? options.guard(handler) : handler });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${options.host}:${options.port ?? workload.port}`,
      options.transport.server(),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    ),
  );
  return { server, port };
}

async function callOrError(
  client: grpc.Client,
  app: string,
  deadlineMs: number,
  metadata: grpc.Metadata,
): Promise<string> {
  try {
    return await call(client, deadlineMs, metadata);
  } catch (err) {
    return `${app}:error(${grpc.status[(err as grpc.ServiceError).code] ?? 'UNKNOWN'})`;
  }
}

/** Counts of what answered productpage's calls over one summary period. */
export class TrafficTally {
  private requests = 0;
  private errors = 0;
  private readonly versions = new Map<string, number>();

  /** Records one productpage response (or failure): every `reviews-vN` in it counts for that version. */
  record(response: string | Error): void {
    this.requests++;
    if (response instanceof Error) {
      this.errors++;
      return;
    }
    for (const match of response.matchAll(/\b(reviews-v\d+)\b/g)) {
      this.versions.set(match[1], (this.versions.get(match[1]) ?? 0) + 1);
    }
    if (response.includes(':error(')) this.errors++;
  }

  /** One line, e.g. `traffic (5s): 50 requests, reviews-v1 40 (80%), reviews-v2 10 (20%), 0 errors`; resets. */
  summary(seconds: number): string {
    const versions = [...this.versions].sort(([a], [b]) => a.localeCompare(b));
    const total = versions.reduce((sum, [, n]) => sum + n, 0);
    const parts = versions.map(([v, n]) => `${v} ${n} (${Math.round((n * 100) / total)}%)`);
    const line =
      `traffic (${seconds}s): ${this.requests} requests to productpage` +
      (parts.length ? `, ${parts.join(', ')}` : '') +
      `, ${this.errors} error${this.errors === 1 ? '' : 's'}`;
    this.requests = 0;
    this.errors = 0;
    this.versions.clear();
    return line;
  }
}

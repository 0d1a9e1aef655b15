// Bookinfo as proxyless gRPC: productpage → details and reviews, reviews v2 → ratings, each workload a small
// grpc-js server on the port its WorkloadEntry in examples/bookinfo names, and every call between them dialed as
// xds:///<host>:9080 so that pilot's routes (the reviews VirtualService, the DestinationRule subsets) decide
// where it goes. A traffic loop calls productpage and counts which reviews version answered.
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer) => b;

/** One unary method; the response names the workloads that served the call, e.g. `reviews-v2(ratings-v1)`. */
export const BOOKINFO_SERVICE = {
  call: {
    path: '/flotilla.bookinfo.Bookinfo/Call',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as const;

const BookinfoClient = grpc.makeGenericClientConstructor(BOOKINFO_SERVICE, 'Bookinfo');

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

export function xdsTarget(app: string, namespace: string): string {
  return `xds:///${app}.${namespace}.svc.cluster.local:9080`;
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

/** The xDS clients of each app, created once and shared by every workload of this process. */
export class Clients {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(private readonly namespace: string) {}

  get(app: string): grpc.Client {
    let client = this.clients.get(app);
    if (!client) {
      client = new BookinfoClient(xdsTarget(app, this.namespace), grpc.credentials.createInsecure());
      this.clients.set(app, client);
    }
    return client;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

/** Starts one workload's server; its handler calls its dependencies through pilot and names who answered. */
export async function startWorkload(
  workload: Workload,
  host: string,
  clients: Clients,
  deadlineMs: number,
): Promise<grpc.Server> {
  const server = new grpc.Server();
  const self = `${workload.app}-${workload.version}`;
  server.addService(BOOKINFO_SERVICE, {
    call: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      // Headers that steer routing (end-user) travel on, as Istio's bookinfo forwards them.
      const forwarded = new grpc.Metadata();
      for (const value of call.metadata.get('end-user')) forwarded.set('end-user', value);
      void Promise.all(
        workload.calls.map((app) => callOrError(clients.get(app), app, deadlineMs, forwarded)),
      ).then((parts) => callback(null, Buffer.from(parts.length ? `${self}(${parts.join(',')})` : self)));
    },
  });
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${workload.port}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  return server;
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

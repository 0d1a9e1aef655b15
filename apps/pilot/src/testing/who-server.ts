// Test-only: a one-method gRPC service answering with its own name, so a client sees which backend served it.
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer) => b;

export const WHO_SERVICE = {
  who: {
    path: '/flotilla.test.Who/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as const;

export const WhoClient = grpc.makeGenericClientConstructor(WHO_SERVICE, 'Who');

/** Starts a Who server named `name` on 127.0.0.1 (port 0: any free port); resolves to its server and port. */
export async function startWhoServer(name: string, port = 0): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(WHO_SERVICE, {
    who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(name)),
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port: bound };
}

/** One Who call; resolves to the server's name. */
export function callWho(
  client: grpc.Client,
  metadata: Record<string, string> = {},
  deadlineMs = 5000,
): Promise<string> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      WHO_SERVICE.who.path,
      identity,
      identity,
      Buffer.alloc(0),
      md,
      { deadline: Date.now() + deadlineMs },
      (err, res) => (err ? reject(err) : resolve(res!.toString())),
    ),
  );
}

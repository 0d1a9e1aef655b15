// A one-method gRPC service for tests: each backend answers with its own name, so a client's calls show where
// the mesh routed them.
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

/**
 * Starts a Who server named `name` on 127.0.0.1 (port 0: any free port). With `failEvery` > 0 every n-th call fails
 * with UNAVAILABLE (for retry tests); `calls` counts the calls it received.
 */
export async function startWhoServer(
  name: string,
  port = 0,
  failEvery = 0,
): Promise<{ server: grpc.Server; port: number; calls: () => number }> {
  let calls = 0;
  const server = new grpc.Server();
  server.addService(WHO_SERVICE, {
    who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
      calls++;
      if (failEvery > 0 && calls % failEvery === 0)
        callback({ code: grpc.status.UNAVAILABLE, details: 'flaky' });
      else callback(null, Buffer.from(name));
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port: bound, calls: () => calls };
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

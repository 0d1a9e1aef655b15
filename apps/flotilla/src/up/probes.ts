import { existsSync, readFileSync } from 'node:fs';
import { createServer, isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { health } from '@flotilla/proto';

/** Resolves true when nothing listens on host:port (we could bind it), false when it is taken. */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** One grpc.health.v1 Check of the whole server (""): SERVING or not, within `timeoutMs`. */
export function grpcServing(
  address: string,
  tlsRootCertPath: string | undefined,
  timeoutMs: number,
): Promise<boolean> {
  let credentials: grpc.ChannelCredentials;
  if (tlsRootCertPath) {
    if (!existsSync(tlsRootCertPath)) return Promise.resolve(false);
    credentials = grpc.credentials.createSsl(readFileSync(tlsRootCertPath));
  } else {
    credentials = grpc.credentials.createInsecure();
  }
  // Node warns when TLS SNI is an IP address (RFC 6066); citadel's certificate also names localhost.
  const options =
    tlsRootCertPath && isIP(address.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''))
      ? { 'grpc.ssl_target_name_override': 'localhost' }
      : {};
  const client = new health.HealthClient(address, credentials, options);
  return new Promise((resolve) => {
    client.check({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      resolve(!err && res.status === health.HealthCheckResponse_ServingStatus.SERVING);
    });
  });
}

/** GET http://address/ready answers 200. */
export async function httpReady(address: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

// Pilot's mTLS xDS credentials against a real citadel (apps/citadel/dist) and a real TLS handshake: the serving
// certificate is citadel's for pilot's SPIFFE id, a client with a mesh certificate gets through, and a client
// without one is refused.
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CertificateFetcher } from '@flotilla/mesh-agent';
import { loadOrCreateTokenKey, signLocalToken } from '@flotilla/pki';
import { health } from '@flotilla/proto';
import { startCitadelProcess, tempDir } from '@flotilla/testing';
import type { CitadelProcess } from '@flotilla/testing';
import { PILOT_SPIFFE_ID, secureXdsCredentials } from './secure-xds';
import type { SecureXdsCredentials } from './secure-xds';

const CITADEL_MAIN = join(__dirname, '../../citadel/dist/main.js');

let citadel: CitadelProcess | undefined;
let stateDir: string;
let citadelAddress: string;
let rootPem: string;
let secure: SecureXdsCredentials;
let server: grpc.Server;
let pilotAddress: string;

function token(namespace: string, serviceAccount: string) {
  return () => signLocalToken(loadOrCreateTokenKey(stateDir), { namespace, serviceAccount });
}

beforeAll(async () => {
  stateDir = tempDir('flotilla-secure-xds-');
  loadOrCreateTokenKey(stateDir);
  citadel = await startCitadelProcess(CITADEL_MAIN, stateDir);
  ({ address: citadelAddress, rootPem } = citadel);
  secure = await secureXdsCredentials({
    citadelAddress,
    rootCertPem: rootPem,
    token: token('istio-system', 'pilot'),
    citadelServerName: 'localhost',
  });
  server = new grpc.Server();
  server.addService(health.HealthService, {
    check: (_call: unknown, callback: grpc.sendUnaryData<health.HealthCheckResponse>) =>
      callback(null, { status: health.HealthCheckResponse_ServingStatus.SERVING }),
    watch: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  const xdsPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', secure.credentials, (err, port) => (err ? reject(err) : resolve(port))),
  );
  pilotAddress = `127.0.0.1:${xdsPort}`;
}, 40_000);

afterAll(async () => {
  secure?.stop();
  server?.forceShutdown();
  await citadel?.stop();
});

/** A health Check over TLS; the promise settles with the status or the error the handshake ended in. */
function check(credentials: grpc.ChannelCredentials): Promise<string> {
  const client = new health.HealthClient(pilotAddress, credentials);
  return new Promise<string>((resolve) => {
    client.check({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, response) => {
      client.close();
      resolve(err ? `error ${grpc.status[err.code]}` : `status ${response!.status}`);
    });
  });
}

/** Checks pilot's certificate by its SPIFFE id, as Envoy's bootstrap does with --pilot-identity. */
function expectPilot(_host: string, cert: PeerCertificate): Error | undefined {
  return cert.subjectaltname === `URI:${PILOT_SPIFFE_ID}` ? undefined : new Error(cert.subjectaltname);
}

describe('secureXdsCredentials', () => {
  it("serves with citadel's certificate for pilot's SPIFFE id, chaining to the mesh root", () => {
    const leaf = new X509Certificate(secure.secret().chainPem[0]);
    expect(leaf.subjectAltName).toBe(`URI:${PILOT_SPIFFE_ID}`);
    expect(leaf.verify(new X509Certificate(rootPem).publicKey)).toBe(true);
  });

  it('answers a client presenting a mesh certificate', async () => {
    const workload = await new CertificateFetcher({
      address: citadelAddress,
      rootCertPem: rootPem,
      spiffeId: 'spiffe://cluster.local/ns/bookinfo/sa/productpage',
      token: token('bookinfo', 'productpage'),
      serverName: 'localhost',
    }).fetch();
    const credentials = grpc.credentials.createSsl(
      Buffer.from(rootPem),
      Buffer.from(workload.keyPem),
      Buffer.from(workload.chainPem.join('')),
      { checkServerIdentity: expectPilot },
    );
    expect(await check(credentials)).toBe(`status ${health.HealthCheckResponse_ServingStatus.SERVING}`);
  });

  it('refuses a client without a certificate', async () => {
    const credentials = grpc.credentials.createSsl(Buffer.from(rootPem), null, null, {
      checkServerIdentity: expectPilot,
    });
    expect(await check(credentials)).toBe('error UNAVAILABLE');
  });
});

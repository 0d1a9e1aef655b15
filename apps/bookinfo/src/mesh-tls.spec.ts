// The samples' credential wiring with real certificates: identities issued by the pki library's CA to real mesh
// agents (SecretManager writing the file_watcher files), real TLS handshakes through grpc-js's file-watcher
// certificate provider, and the caller's SPIFFE ID read on the server.
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority, csrPemToDer, selfSignedMaterial } from '@flotilla/pki';
import { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE, createKeyAndCsr, writeFiles } from '@flotilla/mesh-agent';
import type { SecretManager, SecretSource, WorkloadSecret } from '@flotilla/mesh-agent';
import { tempDir, waitFor } from '@flotilla/testing';
import { Clients, bookinfoClient, call, startWorkload } from './bookinfo';
import type { Workload } from './bookinfo';
import { FileWatcherTransport, peerSpiffeId, serviceAccountOf, spiffeIdOf } from './mesh-tls';
import { sourceAttributes } from './mixer-policy';
import { startWorkloadAgent } from './workload-agent';

const NS = 'bookinfo';
const DETAILS: Workload = { app: 'details', version: 'v1', port: 0, calls: [] };
const PRODUCTPAGE_ID = spiffeIdOf(NS, serviceAccountOf('productpage'));
const DETAILS_ID = spiffeIdOf(NS, serviceAccountOf('details'));
const RATINGS_ID = spiffeIdOf(NS, serviceAccountOf('ratings'));
const REFRESH_MS = 200;

/** Signs CSRs with a CA of its own, in-process: what citadel does, without the network. */
async function caSource(
  trustDomain = 'cluster.local',
): Promise<(spiffeId: string) => SecretSource & { fetch(): Promise<WorkloadSecret> }> {
  const ca = new CertificateAuthority(
    await selfSignedMaterial(tempDir('flotilla-bookinfo-ca-'), trustDomain),
    {
      trustDomain,
      defaultTtlMs: 3600_000,
      maxTtlMs: 86_400_000,
    },
  );
  return (spiffeId) => ({
    async fetch() {
      const { keyPem, csrPem } = await createKeyAndCsr(spiffeId);
      const issued = await ca.issueWorkload(csrPemToDer(csrPem), spiffeId, 3600);
      return {
        keyPem,
        chainPem: issued.chainPem.slice(0, -1),
        rootPem: ca.rootsPem.join(''),
        fetchedAt: Date.now(),
        notBefore: issued.notBefore.getTime(),
        notAfter: issued.notAfter.getTime(),
        serial: issued.serial,
      };
    },
  });
}

function callStatus(client: grpc.Client): Promise<grpc.ServiceError | string> {
  return call(client, 3000).catch((err: grpc.ServiceError) => err);
}

describe('mTLS between sample workloads from their mesh agents’ files', () => {
  const managers: SecretManager[] = [];
  const closers: (() => void)[] = [];
  let issue: Awaited<ReturnType<typeof caSource>>;
  let certRoot: string;
  let detailsDir: string;
  let productpage: FileWatcherTransport;
  let port: number;
  const seen: Record<string, unknown>[] = [];

  beforeAll(async () => {
    issue = await caSource();
    certRoot = tempDir('flotilla-bookinfo-certs-');
    const fail = (message: string) => {
      throw new Error(message);
    };
    const [details, caller] = await Promise.all([
      startWorkloadAgent(issue(DETAILS_ID), DETAILS_ID, certRoot, 'details-v1', fail),
      startWorkloadAgent(issue(PRODUCTPAGE_ID), PRODUCTPAGE_ID, certRoot, 'productpage-v1', fail),
    ]);
    managers.push(details.manager, caller.manager);
    detailsDir = details.certDir;
    productpage = new FileWatcherTransport(caller.certDir, REFRESH_MS);
    const detailsTransport = new FileWatcherTransport(detailsDir, REFRESH_MS);
    const started = await startWorkload(DETAILS, {
      host: '127.0.0.1',
      port: 0,
      transport: detailsTransport,
      clients: new Clients(NS, detailsTransport),
      deadlineMs: 1000,
      guard: (handler) => (c, callback) => {
        seen.push({ peer: peerSpiffeId(c), ...sourceAttributes(c) });
        handler(c, callback);
      },
    });
    port = started.port;
    closers.push(() => started.server.forceShutdown());
  });

  afterAll(() => {
    for (const close of closers) close();
    for (const m of managers) m.stop();
  });

  const dial = (credentials: grpc.ChannelCredentials) => {
    // TLS names the service as a mesh client would (SNI), not the IP address it dials.
    const client = bookinfoClient(`127.0.0.1:${port}`, credentials, {
      'grpc.ssl_target_name_override': 'details.bookinfo.svc.cluster.local',
    });
    closers.push(() => client.close());
    return client;
  };

  it('lets productpage call details and tells details who called, as Istio attributes', async () => {
    expect(await call(dial(productpage.channel(DETAILS_ID)), 3000)).toBe('details-v1');
    expect(seen.at(-1)).toEqual({
      peer: PRODUCTPAGE_ID,
      'source.principal': 'cluster.local/ns/bookinfo/sa/bookinfo-productpage',
      'source.namespace': 'bookinfo',
      'connection.mtls': true,
    });
  });

  it('refuses to talk to a server whose SPIFFE ID is not the one expected', async () => {
    const err = await callStatus(dial(productpage.channel(RATINGS_ID)));
    expect(err).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((err as grpc.ServiceError).details).toContain(
      `server identity ${DETAILS_ID} is not the expected ${RATINGS_ID}`,
    );
  });

  it('refuses plaintext clients, clients without a certificate and clients of another CA', async () => {
    const calls = seen.length;
    const plaintext = await callStatus(dial(grpc.credentials.createInsecure()));
    expect(plaintext).toMatchObject({ code: grpc.status.UNAVAILABLE });

    const rootPem = readFileSync(join(detailsDir, ROOT_CERT_FILE));
    const anyServer = { checkServerIdentity: () => undefined };
    const noCertificate = await callStatus(dial(grpc.credentials.createSsl(rootPem, null, null, anyServer)));
    expect(noCertificate).toMatchObject({ code: grpc.status.UNAVAILABLE });

    const stranger = await (await caSource())(PRODUCTPAGE_ID).fetch();
    const otherCa = await callStatus(
      dial(
        grpc.credentials.createSsl(
          rootPem,
          Buffer.from(stranger.keyPem),
          Buffer.from(stranger.chainPem.join('')),
          anyServer,
        ),
      ),
    );
    expect(otherCa).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(seen.length).toBe(calls); // none of them reached the handler
  });

  it('serves a rotated certificate to new connections without a restart', async () => {
    const servedSerial = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          servername: 'details.bookinfo.svc.cluster.local',
          ALPNProtocols: ['h2'],
          ca: readFileSync(join(detailsDir, ROOT_CERT_FILE)),
          key: readFileSync(join(certRoot, 'productpage-v1', KEY_FILE)),
          cert: readFileSync(join(certRoot, 'productpage-v1', CERT_CHAIN_FILE)),
          checkServerIdentity: () => undefined,
        });
        socket.once('secureConnect', () => {
          resolve(socket.getPeerX509Certificate()!.serialNumber);
          socket.destroy();
        });
        socket.once('error', reject);
      });
    const before = await servedSerial();
    expect(before).toBe(new X509Certificate(readFileSync(join(detailsDir, CERT_CHAIN_FILE))).serialNumber);
    const rotated = await issue(DETAILS_ID).fetch();
    // The agent renames the new key into place before the new chain: a read in between sees a key that does not
    // match the certificate, and the server must keep serving its previous pair.
    writeFileSync(join(detailsDir, KEY_FILE), rotated.keyPem);
    await new Promise((resolve) => setTimeout(resolve, 3 * REFRESH_MS));
    expect(await servedSerial()).toBe(before);
    await writeFiles(detailsDir, rotated);
    const after = await waitFor(
      'the rotated certificate on a new connection',
      async () => {
        const serial = await servedSerial();
        return serial !== before && serial;
      },
      5000,
      REFRESH_MS,
    );
    expect(after.toLowerCase()).toBe(rotated.serial.toLowerCase());
    expect(await call(dial(productpage.channel(DETAILS_ID)), 3000)).toBe('details-v1');
  });
});

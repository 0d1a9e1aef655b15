import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ads, ca, discovery } from '@flotilla/proto';
import { openssl, opensslCsr, tempDir, waitFor, writeTemp } from '@flotilla/testing';
import { FLOTILLA_BIN, LocalMesh } from './support';
import type { Endpoints } from './support';

const ALICE = 'spiffe://cluster.local/ns/default/sa/alice';
const BOB = 'spiffe://cluster.local/ns/shop/sa/bob';

/** `flotilla token`, as a user runs it. */
function flotillaToken(state: string, namespace: string, serviceAccount: string): string {
  return execFileSync(
    process.execPath,
    [FLOTILLA_BIN, 'token', '--state', state, '--namespace', namespace, '--service-account', serviceAccount],
    { encoding: 'utf8' },
  ).trim();
}

/** CreateCertificate with any gRPC client: here grpc-js and the generated stub, TLS with endpoints.json's root. */
function createCertificate(e: Endpoints, csr: string, token?: string): Promise<string[]> {
  const client = new ca.IstioCertificateServiceClient(
    e.citadel.grpc,
    grpc.credentials.createSsl(readFileSync(e.citadel.rootCert)),
    { 'grpc.ssl_target_name_override': 'localhost' },
  );
  const metadata = new grpc.Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) =>
    client.createCertificate(
      { csr, validityDuration: 3600, metadata: {} },
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.certChain);
      },
    ),
  );
}

describe('citadel in the local mesh (flotilla up)', () => {
  let mesh: LocalMesh;
  let e: Endpoints;
  const dir = tempDir('flotilla-e2e-citadel-');

  beforeAll(async () => {
    mesh = await LocalMesh.start();
    e = await waitFor('endpoints.json', () => mesh.readEndpoints(), 30_000);
  });
  afterAll(async () => {
    await mesh?.stop('SIGKILL');
  });

  it('turns a `flotilla token` and an openssl CSR into a chain that `openssl verify` accepts with the right SPIFFE SAN', async () => {
    const token = flotillaToken(mesh.stateDir, 'default', 'alice');
    const chain = await createCertificate(e, opensslCsr(dir, 'alice', { uris: [ALICE] }), token);
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const leaf = writeTemp(dir, 'alice.pem', chain[0]);
    expect(openssl(['verify', '-x509_strict', '-CAfile', e.citadel.rootCert, leaf]).trim()).toBe(
      `${leaf}: OK`,
    );
    expect(new X509Certificate(chain[0]).subjectAltName).toBe(`URI:${ALICE}`);
    expect(new X509Certificate(chain.at(-1)!).fingerprint256).toBe(
      new X509Certificate(readFileSync(e.citadel.rootCert)).fingerprint256,
    );
  });

  it('refuses a CSR for another identity, and a call without a token', async () => {
    const token = flotillaToken(mesh.stateDir, 'default', 'alice');
    const denied = await createCertificate(e, opensslCsr(dir, 'bob', { uris: [BOB] }), token).catch(
      (err) => err,
    );
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.details).toMatch(/asks for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/bob/);
    const anonymous = await createCertificate(e, opensslCsr(dir, 'alice', { uris: [ALICE] })).catch(
      (err) => err,
    );
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it("serves Envoy's mTLS xDS port with pilot's citadel certificate, to clients presenting a mesh certificate only", async () => {
    const chain = await createCertificate(
      e,
      opensslCsr(dir, 'sidecar', { uris: [ALICE] }),
      flotillaToken(mesh.stateDir, 'default', 'alice'),
    );
    const root = readFileSync(e.citadel.rootCert);
    /** One SotW LDS request on the secure port: resolves with the response's type, or rejects with the error. */
    const ldsOver = (credentials: grpc.ChannelCredentials) =>
      new Promise<string>((resolve, reject) => {
        const client = new ads.AggregatedDiscoveryServiceClient(e.pilot.secureXds, credentials, {
          'grpc.ssl_target_name_override': 'localhost',
        });
        const stream = client.streamAggregatedResources({ deadline: Date.now() + 10_000 });
        stream.on('data', (r: discovery.DiscoveryResponse) => {
          resolve(r.typeUrl);
          stream.cancel();
          client.close();
        });
        stream.on('error', (err) => {
          reject(err);
          client.close();
        });
        stream.write(
          discovery.DiscoveryRequest.fromPartial({
            node: { id: 'sidecar~127.0.0.1~alice.default~default.svc.cluster.local' },
            typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener',
          }),
        );
      });
    // pilot fetches its certificate once citadel is up: wait for the port, with the mesh certificate.
    // As Envoy does, the client checks pilot's SPIFFE identity (its certificate has no DNS names).
    const pilotIdentity = (_host: string, cert: { subjectaltname?: string }) =>
      cert.subjectaltname?.includes('URI:spiffe://cluster.local/ns/istio-system/sa/pilot')
        ? undefined
        : new Error(`not pilot: ${cert.subjectaltname}`);
    const withCert = grpc.credentials.createSsl(
      root,
      readFileSync(join(dir, 'sidecar.key')),
      Buffer.from(chain.join('')),
      { checkServerIdentity: pilotIdentity },
    );
    const typeUrl = await waitFor(
      'the secure xDS port',
      () => ldsOver(withCert).catch(() => undefined),
      30_000,
      250,
    );
    expect(typeUrl).toBe('type.googleapis.com/envoy.config.listener.v3.Listener');
    // pilot's own certificate carries its SPIFFE identity from citadel.
    const served = await new Promise<string | undefined>((resolve, reject) => {
      const [host, port] = e.pilot.secureXds.split(':');
      const socket = connect(
        {
          host,
          port: Number(port),
          ca: root,
          servername: 'localhost',
          checkServerIdentity: () => undefined,
          key: readFileSync(join(dir, 'sidecar.key')),
          cert: chain.join(''),
          ALPNProtocols: ['h2'],
        },
        () => {
          resolve(socket.getPeerCertificate().subjectaltname);
          socket.end();
        },
      );
      socket.on('error', reject);
    });
    expect(served).toContain('URI:spiffe://cluster.local/ns/istio-system/sa/pilot');
    // Without a client certificate the handshake fails.
    await expect(
      ldsOver(grpc.credentials.createSsl(root, null, null, { checkServerIdentity: pilotIdentity })),
    ).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('gives two workloads leaves that complete an mTLS handshake, each seeing the other’s SPIFFE ID', async () => {
    const alice = await createCertificate(
      e,
      opensslCsr(dir, 'alice-tls', { uris: [ALICE] }),
      flotillaToken(mesh.stateDir, 'default', 'alice'),
    );
    const bob = await createCertificate(
      e,
      opensslCsr(dir, 'bob-tls', { uris: [BOB] }),
      flotillaToken(mesh.stateDir, 'shop', 'bob'),
    );
    const trust = readFileSync(e.citadel.rootCert);
    let serverSaw: string | undefined;
    const server = createServer(
      {
        cert: bob.slice(0, -1).join(''),
        key: readFileSync(join(dir, 'bob-tls.key')),
        ca: trust,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => {
        serverSaw = socket.getPeerCertificate().subjectaltname;
        socket.end();
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const clientSaw = await new Promise<string | undefined>((resolve, reject) => {
        const socket = connect(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            cert: alice.slice(0, -1).join(''),
            key: readFileSync(join(dir, 'alice-tls.key')),
            ca: trust,
            checkServerIdentity: () => undefined, // SPIFFE: the URI SAN is the identity, checked below
          },
          () => resolve(socket.getPeerCertificate().subjectaltname),
        );
        socket.on('error', reject);
      });
      expect(clientSaw).toBe(`URI:${BOB}`);
      await waitFor('the server to see the client', () => serverSaw);
      expect(serverSaw).toBe(`URI:${ALICE}`);
    } finally {
      server.close();
    }
  });

  it('`flotilla ca revoke` makes citadel’s OCSP responder answer revoked', async () => {
    const [pem] = await createCertificate(
      e,
      opensslCsr(dir, 'revoked', { uris: [ALICE] }),
      flotillaToken(mesh.stateDir, 'default', 'alice'),
    );
    const leaf = writeTemp(dir, 'revoked.pem', pem);
    const serial = new X509Certificate(pem).serialNumber;
    const ocspUrl = e.citadel.metrics.replace(/\/metrics$/, '/ca/ocsp');
    const ocsp = () =>
      new Promise<string>((resolve) =>
        execFile(
          'openssl',
          [
            'ocsp',
            '-timeout',
            '10',
            '-url',
            ocspUrl,
            '-issuer',
            e.citadel.rootCert,
            '-cert',
            leaf,
            '-CAfile',
            e.citadel.rootCert,
          ],
          (_err, stdout, stderr) => resolve(stdout + stderr),
        ),
      );
    expect(await ocsp()).toContain(`${leaf}: good`);
    const out = execFileSync(
      process.execPath,
      [
        FLOTILLA_BIN,
        'ca',
        'revoke',
        '--state',
        mesh.stateDir,
        '--serial',
        serial,
        '--reason',
        'keyCompromise',
      ],
      { encoding: 'utf8' },
    );
    expect(out).toMatch(/^revoked /);
    const answer = await waitFor('OCSP to say revoked', async () => {
      const text = await ocsp();
      return text.includes(`${leaf}: revoked`) ? text : undefined;
    });
    expect(answer).toMatch(/Response verify OK/);
  });
});

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadOrCreateTokenKey, signLocalToken } from '@flotilla/pki';
import { discovery, sds, tlsSecret, unpackAny } from '@flotilla/proto';
import { openssl, startCitadelProcess, tempDir, waitFor } from '@flotilla/testing';
import type { CitadelProcess } from '@flotilla/testing';
import {
  CERT_CHAIN_FILE,
  CertificateFetcher,
  KEY_FILE,
  ROOT_CERT_FILE,
  SECRET_TYPE_URL,
  SdsServer,
  SecretManager,
} from './index';
import type { WorkloadSecret } from './index';

const CITADEL_MAIN = join(__dirname, '../../../apps/citadel/dist/main.js');
const ALICE = 'spiffe://cluster.local/ns/default/sa/alice';

let citadel: CitadelProcess | undefined;
let stateDir: string;
let address: string;
let rootPem: string;

beforeAll(async () => {
  stateDir = tempDir('flotilla-mesh-agent-citadel-');
  loadOrCreateTokenKey(stateDir);
  citadel = await startCitadelProcess(CITADEL_MAIN, stateDir);
  ({ address, rootPem } = citadel);
}, 30_000);

afterAll(async () => {
  await citadel?.stop();
});

function fetcher(ttlSeconds = 3600): CertificateFetcher {
  return new CertificateFetcher({
    address,
    rootCertPem: rootPem,
    spiffeId: ALICE,
    serverName: 'localhost',
    ttlSeconds,
    token: () =>
      signLocalToken(loadOrCreateTokenKey(stateDir), { namespace: 'default', serviceAccount: 'alice' }),
  });
}

/** Waits until citadel answers (it writes the trust bundle before its gRPC port is up). */
function firstFetch(f: CertificateFetcher): Promise<WorkloadSecret> {
  return waitFor('a certificate from citadel', () => f.fetch(), 20_000, 200);
}

describe('CertificateFetcher against a real citadel', () => {
  it('gets a P-256 key and a chain that openssl verifies, carrying the SPIFFE URI SAN', async () => {
    const secret = await firstFetch(fetcher());
    const dir = tempDir('flotilla-mesh-agent-');
    const rootFile = join(dir, 'root.pem');
    const leafFile = join(dir, 'leaf.pem');
    openssl(['x509', '-out', rootFile], { input: rootPem });
    openssl(['x509', '-out', leafFile], { input: secret.chainPem[0] });
    const untrusted = secret.chainPem.length > 1 ? ['-untrusted', join(dir, 'chain.pem')] : [];
    if (untrusted.length)
      openssl(['x509', '-out', untrusted[1]], { input: secret.chainPem.slice(1).join('') });
    expect(openssl(['verify', '-x509_strict', '-CAfile', rootFile, ...untrusted, leafFile]).trim()).toBe(
      `${leafFile}: OK`,
    );
    expect(openssl(['x509', '-noout', '-ext', 'subjectAltName', '-in', leafFile])).toContain(`URI:${ALICE}`);
    const leaf = new X509Certificate(secret.chainPem[0]);
    expect(leaf.subjectAltName).toBe(`URI:${ALICE}`);
    expect(leaf.checkPrivateKey(createPrivateKey(secret.keyPem))).toBe(true);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(secret.notAfter - secret.fetchedAt).toBeLessThanOrEqual(3600_000 + 1000);
  });

  it('is refused with UNAUTHENTICATED when the token is not citadel’s', async () => {
    const f = new CertificateFetcher({
      address,
      rootCertPem: rootPem,
      spiffeId: ALICE,
      serverName: 'localhost',
      token: () => 'not-a-token',
    });
    await expect(f.fetch()).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it('reads a trust bundle given as a function on every request, and refuses one with no certificate', async () => {
    // A bundle during root rotation: another root beside citadel's.
    const otherRoot = openssl([
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', '/dev/null', '-subj', '/O=other', '-days', '1'],
    ]);
    let bundle = rootPem;
    let reads = 0;
    const f = new CertificateFetcher({
      address,
      rootCertPem: () => {
        reads += 1;
        return bundle;
      },
      spiffeId: ALICE,
      serverName: 'localhost',
      token: () =>
        signLocalToken(loadOrCreateTokenKey(stateDir), { namespace: 'default', serviceAccount: 'alice' }),
    });
    expect((await firstFetch(f)).rootPem).toBe(rootPem);
    bundle = `${otherRoot}${rootPem}`;
    const rotated = await f.fetch();
    expect(rotated.rootPem).toBe(bundle);
    expect(rotated.chainPem.some((pem) => pem.includes(otherRoot.trim()))).toBe(false);
    expect(reads).toBeGreaterThanOrEqual(2);
    bundle = 'not a certificate';
    await expect(f.fetch()).rejects.toThrow('trust bundle given as rootCertPem: no PEM certificate');
  });
});

function sdsClient(socketPath: string) {
  const client = new sds.SecretDiscoveryServiceClient(
    `unix:${socketPath}`,
    grpc.credentials.createInsecure(),
  );
  const stream = client.streamSecrets();
  const responses: discovery.DiscoveryResponse[] = [];
  stream.on('data', (r: discovery.DiscoveryResponse) => responses.push(r));
  stream.on('error', () => undefined);
  const request = (names: string[], nonce = '', version = '') =>
    stream.write(
      discovery.DiscoveryRequest.fromPartial({
        typeUrl: SECRET_TYPE_URL,
        resourceNames: names,
        responseNonce: nonce,
        versionInfo: version,
      }),
    );
  const close = () => {
    stream.cancel();
    client.close();
  };
  return { responses, request, close };
}

function secretsOf(response: discovery.DiscoveryResponse): Map<string, tlsSecret.Secret> {
  return new Map(
    response.resources.map((any) => {
      const secret = unpackAny(any, tlsSecret.Secret) as tlsSecret.Secret;
      return [secret.name, secret];
    }),
  );
}

describe('SecretManager and SdsServer with a 10 s certificate', () => {
  it('writes the file_watcher files, serves "default" and "ROOTCA" over SDS, and rotates both', async () => {
    await firstFetch(fetcher()); // citadel is up
    const outputDir = tempDir('flotilla-mesh-agent-out-');
    const manager = new SecretManager({ source: fetcher(10), outputDir, jitter: 0.1 });
    const socketPath = join(tempDir('flotilla-sds-'), 'socket');
    const server = new SdsServer({ secrets: manager, socketPath });
    const secrets: WorkloadSecret[] = [];
    manager.on('secret', (s) => secrets.push(s));
    await server.start();
    const client = sdsClient(socketPath);
    try {
      const first = await manager.start();
      const chainFile = readFileSync(join(outputDir, CERT_CHAIN_FILE), 'utf8');
      expect(new X509Certificate(chainFile).serialNumber).toBe(first.serial);
      expect(readFileSync(join(outputDir, KEY_FILE), 'utf8')).toBe(first.keyPem);
      expect(readFileSync(join(outputDir, ROOT_CERT_FILE), 'utf8')).toBe(rootPem);

      client.request(['default', 'ROOTCA']);
      const r1 = await waitFor('the first SDS response', () => client.responses[0]);
      expect(r1.typeUrl).toBe(SECRET_TYPE_URL);
      const s1 = secretsOf(r1);
      const defaultChain = s1.get('default')?.tlsCertificate?.certificateChain?.inlineBytes?.toString();
      expect(new X509Certificate(defaultChain!).serialNumber).toBe(first.serial);
      expect(s1.get('default')?.tlsCertificate?.privateKey?.inlineBytes?.toString()).toBe(first.keyPem);
      expect(s1.get('ROOTCA')?.validationContext?.trustedCa?.inlineBytes?.toString()).toBe(rootPem);
      client.request(['default', 'ROOTCA'], r1.nonce, r1.versionInfo); // ACK: no answer expected

      // 10 s asked for (citadel rounds notAfter down to the second): rotation at half of it, ± 10%.
      const second = await waitFor('rotation', () => secrets[1], 9_000, 100);
      const lifetime = first.notAfter - first.fetchedAt;
      const rotatedAfter = second.fetchedAt - first.fetchedAt;
      expect(lifetime).toBeGreaterThan(8_900);
      expect(rotatedAfter).toBeGreaterThanOrEqual(lifetime * 0.45);
      expect(rotatedAfter).toBeLessThan(lifetime * 0.55 + 1_000);
      expect(second.serial).not.toBe(first.serial);
      expect(second.keyPem).not.toBe(first.keyPem);
      expect(new X509Certificate(readFileSync(join(outputDir, CERT_CHAIN_FILE))).serialNumber).toBe(
        second.serial,
      );
      expect(readFileSync(join(outputDir, KEY_FILE), 'utf8')).toBe(second.keyPem);

      const r2 = await waitFor('the pushed SDS response', () => client.responses[1]);
      expect(client.responses).toHaveLength(2); // the ACK drew no response
      expect(r2.versionInfo).toBe(second.serial);
      const pushed = secretsOf(r2).get('default')?.tlsCertificate?.certificateChain?.inlineBytes?.toString();
      expect(new X509Certificate(pushed!).serialNumber).toBe(second.serial);
    } finally {
      client.close();
      manager.stop();
      await server.stop();
    }
  }, 30_000);
});

describe('SecretManager timing (fake source)', () => {
  const secret = (fetchedAt: number, lifetimeMs: number): WorkloadSecret => ({
    keyPem: 'k',
    chainPem: ['c'],
    rootPem: 'r',
    fetchedAt,
    notBefore: fetchedAt - 300_000,
    notAfter: fetchedAt + lifetimeMs,
    serial: String(fetchedAt),
  });

  it('rotates at 50% of the lifetime, ±10% jitter, counted from the fetch and not the back-dated notBefore', () => {
    const m = (r: number) => new SecretManager({ source: { fetch: jest.fn() }, random: () => r });
    const s = secret(1_000_000, 3600_000);
    expect(m(0.5).rotationDelayMs(s)).toBe(1800_000);
    expect(m(0).rotationDelayMs(s)).toBeCloseTo(1620_000);
    expect(m(0.999999).rotationDelayMs(s)).toBeCloseTo(1980_000, -1);
  });

  it('retries failures with exponential backoff up to a maximum, then carries on', async () => {
    jest.useFakeTimers();
    try {
      let calls = 0;
      const fetch = jest.fn(async () => {
        calls += 1;
        if (calls <= 4) throw new Error(`citadel down (${calls})`);
        return secret(Date.now(), 3600_000);
      });
      const manager = new SecretManager({
        source: { fetch },
        initialBackoffMs: 1000,
        maxBackoffMs: 5000,
        random: () => 0.5,
      });
      const retries: number[] = [];
      manager.on('fetchError', (_err, retryInMs) => retries.push(retryInMs));
      const first = manager.start();
      await jest.advanceTimersByTimeAsync(0);
      await jest.advanceTimersByTimeAsync(1000 + 2000 + 4000 + 5000);
      await expect(first).resolves.toMatchObject({ keyPem: 'k' });
      expect(retries).toEqual([1000, 2000, 4000, 5000]);
      expect(fetch).toHaveBeenCalledTimes(5);
      await jest.advanceTimersByTimeAsync(1800_000 - 1);
      expect(fetch).toHaveBeenCalledTimes(5);
      await jest.advanceTimersByTimeAsync(1);
      expect(fetch).toHaveBeenCalledTimes(6);
      manager.stop();
    } finally {
      jest.useRealTimers();
    }
  });

  it("rotates at once when asked (a new trust bundle), then on the new certificate's schedule", async () => {
    jest.useFakeTimers();
    try {
      const fetch = jest.fn(async () => secret(Date.now(), 3600_000));
      const manager = new SecretManager({ source: { fetch }, random: () => 0.5 });
      const first = manager.start();
      await jest.advanceTimersByTimeAsync(0);
      await first;
      expect(fetch).toHaveBeenCalledTimes(1);
      await jest.advanceTimersByTimeAsync(60_000);
      manager.rotateNow();
      await jest.advanceTimersByTimeAsync(0);
      expect(fetch).toHaveBeenCalledTimes(2);
      await jest.advanceTimersByTimeAsync(1800_000 - 1);
      expect(fetch).toHaveBeenCalledTimes(2);
      await jest.advanceTimersByTimeAsync(1);
      expect(fetch).toHaveBeenCalledTimes(3);
      manager.stop();
      manager.rotateNow();
      await jest.advanceTimersByTimeAsync(3600_000);
      expect(fetch).toHaveBeenCalledTimes(3);
    } finally {
      jest.useRealTimers();
    }
  });
});

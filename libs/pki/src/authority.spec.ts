import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { openssl, opensslCsr, opensslKey, opensslResult, tempDir, writeTemp } from '@flotilla/testing';
import { CertificateAuthority } from './authority';
import type { AuthorityOptions } from './authority';
import { CaMaterialError, loadCacerts, selfSignedMaterial } from './ca-material';
import { CaError } from './ca-error';
import { csrPemToDer } from './csr';
import { x509 } from './crypto';

const TD = 'cluster.local';
const ALICE = `spiffe://${TD}/ns/default/sa/alice`;
const BOB = `spiffe://${TD}/ns/shop/sa/bob`;
const HOUR = 3600 * 1000;
const OPTIONS: AuthorityOptions = { trustDomain: TD, defaultTtlMs: 24 * HOUR, maxTtlMs: 48 * HOUR };

async function selfSignedCa(options: Partial<AuthorityOptions> = {}) {
  const dir = tempDir('flotilla-ca-');
  const ca = new CertificateAuthority(await selfSignedMaterial(dir, TD), { ...OPTIONS, ...options });
  return { dir, ca, rootPath: join(dir, 'root-cert.pem') };
}

function issueFor(ca: CertificateAuthority, dir: string, name: string, id: string, ttl = 0) {
  return ca.issueWorkload(csrPemToDer(opensslCsr(dir, name, { uris: [id] })), id, ttl);
}

async function expectCaError(promise: Promise<unknown>, kind: CaError['kind'], message: RegExp) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CaError);
  expect((err as CaError).kind).toBe(kind);
  expect((err as CaError).message).toMatch(message);
}

describe('workload certificates (SPIFFE X.509-SVID)', () => {
  it('turns an openssl CSR into a leaf that `openssl verify -x509_strict` accepts for TLS client and server use', async () => {
    const { dir, ca, rootPath } = await selfSignedCa();
    const issued = await issueFor(ca, dir, 'alice', ALICE);
    const leaf = writeTemp(dir, 'leaf.pem', issued.chainPem[0]);
    for (const purpose of ['sslclient', 'sslserver']) {
      expect(openssl(['verify', '-x509_strict', '-purpose', purpose, '-CAfile', rootPath, leaf]).trim()).toBe(
        `${leaf}: OK`,
      );
    }
  });

  it('carries exactly the X.509-SVID profile: one critical URI SAN, empty subject, CA:false, the key usages', async () => {
    const { dir, ca } = await selfSignedCa();
    const issued = await issueFor(ca, dir, 'alice', ALICE);
    const text = openssl(['x509', '-noout', '-text'], { input: issued.chainPem[0] });
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/alice\s*\n/,
    );
    expect(text).toMatch(/Subject:\s*\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\s*\n/);
    expect(text).toMatch(
      /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    expect(text).toMatch(/X509v3 Authority Key Identifier/);
    // A second parser agrees: exactly one SAN entry, a URI.
    const cert = new x509.X509Certificate(issued.chainPem[0]);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.toJSON()).toEqual([{ type: 'url', value: ALICE }]);
  });

  it('answers with the chain leaf first and root last, and back-dates notBefore by two minutes', async () => {
    const now = Date.UTC(2030, 0, 1, 12, 0, 0);
    const { dir, ca, rootPath } = await selfSignedCa({ now: () => now });
    const issued = await issueFor(ca, dir, 'alice', ALICE);
    expect(issued.chainPem).toHaveLength(2);
    expect(issued.chainPem[1]).toBe(openssl(['x509', '-in', rootPath]));
    const leaf = new X509Certificate(issued.chainPem[0]);
    expect(new Date(leaf.validFrom).getTime()).toBe(now - 2 * 60 * 1000);
    expect(new Date(leaf.validTo).getTime()).toBe(now + 24 * HOUR);
    expect(leaf.serialNumber.toLowerCase()).toBe(issued.serial);
  });

  it('grants a requested TTL up to the maximum and refuses longer ones as an invalid request', async () => {
    const { dir, ca } = await selfSignedCa();
    const issued = await issueFor(ca, dir, 'alice', ALICE, 3600);
    expect(issued.notAfter.getTime() - issued.notBefore.getTime()).toBe(HOUR + 2 * 60 * 1000);
    await expectCaError(
      issueFor(ca, dir, 'alice', ALICE, 49 * 3600),
      'invalid-request',
      /requested TTL 49h is greater than the maximum allowed TTL 2d/,
    );
    await expectCaError(issueFor(ca, dir, 'alice', ALICE, -1), 'invalid-request', /not a non-negative/);
  });

  it('refuses a CSR for another identity with permission-denied naming both identities', async () => {
    const { dir, ca } = await selfSignedCa();
    const csr = csrPemToDer(opensslCsr(dir, 'mallory', { uris: [BOB] }));
    await expectCaError(
      ca.issueWorkload(csr, ALICE, 0),
      'permission-denied',
      /the CSR asks for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/bob but the caller is authenticated as spiffe:\/\/cluster\.local\/ns\/default\/sa\/alice/,
    );
  });

  it('refuses CSRs with no URI SAN or two, and CSRs whose signature does not verify', async () => {
    const { dir, ca } = await selfSignedCa();
    await expectCaError(
      ca.issueWorkload(csrPemToDer(opensslCsr(dir, 'none', { subject: '/CN=alice' })), ALICE, 0),
      'invalid-request',
      /exactly one URI SAN.*it has 0/,
    );
    await expectCaError(
      ca.issueWorkload(csrPemToDer(opensslCsr(dir, 'two', { uris: [ALICE, BOB] })), ALICE, 0),
      'invalid-request',
      /it has 2/,
    );
    const der = csrPemToDer(opensslCsr(dir, 'tampered', { uris: [ALICE] }));
    der[der.length - 5] ^= 0x01; // inside the signature
    await expectCaError(ca.issueWorkload(der, ALICE, 0), 'invalid-request', /signature does not verify/);
  });

  it('accepts RSA 2048, P-384 and Ed25519 keys, and refuses RSA 1024 and P-521', async () => {
    const { dir, ca, rootPath } = await selfSignedCa();
    for (const keyType of ['rsa2048', 'p384', 'ed25519'] as const) {
      const csr = csrPemToDer(opensslCsr(dir, keyType, { uris: [ALICE], keyType }));
      const issued = await ca.issueWorkload(csr, ALICE, 0);
      const leaf = writeTemp(dir, `${keyType}.pem`, issued.chainPem[0]);
      expect(openssl(['verify', '-x509_strict', '-CAfile', rootPath, leaf])).toContain('OK');
    }
    const weak = csrPemToDer(opensslCsr(dir, 'weak', { uris: [ALICE], keyType: 'rsa1024' }));
    await expectCaError(
      ca.issueWorkload(weak, ALICE, 0),
      'invalid-request',
      /1024-bit RSA key is not accepted/,
    );
    const p521 = csrPemToDer(opensslCsr(dir, 'p521', { uris: [ALICE], keyType: 'p521' }));
    await expectCaError(ca.issueWorkload(p521, ALICE, 0), 'invalid-request', /secp521r1 is not accepted/);
  });

  it('gives two workloads leaves that complete a real mTLS handshake, each reading the other’s SPIFFE ID', async () => {
    const { dir, ca } = await selfSignedCa();
    const alice = await issueFor(ca, dir, 'alice', ALICE);
    const bob = await issueFor(ca, dir, 'bob', BOB);
    const root = ca.rootsPem.join('');
    const uriOf = (socket: TLSSocket) => socket.getPeerCertificate().subjectaltname;
    let serverSaw: string | undefined;
    const server = createServer(
      {
        cert: bob.chainPem[0],
        key: openssl(['pkey', '-in', join(dir, 'bob.key')]),
        ca: root,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => {
        serverSaw = uriOf(socket);
        socket.end('hello');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const clientSaw = await new Promise<string | undefined>((resolve, reject) => {
        const socket = connect(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            cert: alice.chainPem[0],
            key: openssl(['pkey', '-in', join(dir, 'alice.key')]),
            ca: root,
            // SPIFFE peers are checked by URI SAN, not host name.
            checkServerIdentity: () => undefined,
          },
          () => {
            resolve(uriOf(socket));
            socket.end();
          },
        );
        socket.on('error', reject);
      });
      expect(clientSaw).toBe(`URI:${BOB}`);
      await new Promise((r) => setTimeout(r, 50));
      expect(serverSaw).toBe(`URI:${ALICE}`);
    } finally {
      server.close();
    }
  });

  it('issues a serving certificate for DNS names and IPs that openssl verifies for sslserver only', async () => {
    const { dir, ca, rootPath } = await selfSignedCa();
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await ca.issueServing(publicKey, ['localhost', '127.0.0.1', '::1'], HOUR);
    const path = writeTemp(dir, 'serving.pem', issued.chainPem[0]);
    expect(openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', rootPath, path])).toContain(
      'OK',
    );
    expect(opensslResult(['verify', '-purpose', 'sslclient', '-CAfile', rootPath, path]).status).not.toBe(0);
    expect(openssl(['x509', '-noout', '-ext', 'subjectAltName', '-in', path])).toMatch(
      /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/,
    );
  });
});

/** An openssl-made root and intermediate in Istio's cacerts layout. */
function makeCacerts(dir: string, options: { chainWithRoot?: boolean } = {}): void {
  const ext = writeTemp(
    dir,
    'ca.ext',
    [
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
    ].join('\n'),
  );
  opensslKey(dir, 'root');
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    join(dir, 'root.key'),
    '-subj',
    '/O=Example/CN=Example Root',
    '-days',
    '3650',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    join(dir, 'root-cert.pem'),
  ]);
  opensslKey(dir, 'ca');
  openssl([
    'req',
    '-new',
    '-key',
    join(dir, 'ca.key'),
    '-subj',
    '/O=Example/CN=Citadel Intermediate',
    '-out',
    join(dir, 'ca.csr'),
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    join(dir, 'ca.csr'),
    '-CA',
    join(dir, 'root-cert.pem'),
    '-CAkey',
    join(dir, 'root.key'),
    '-CAcreateserial',
    '-days',
    '730',
    '-extfile',
    ext,
    '-extensions',
    'v3_ca',
    '-out',
    join(dir, 'ca-cert.pem'),
  ]);
  writeFileSync(join(dir, 'ca-key.pem'), openssl(['pkey', '-in', join(dir, 'ca.key')]));
  const caCert = openssl(['x509', '-in', join(dir, 'ca-cert.pem')]);
  const rootCert = openssl(['x509', '-in', join(dir, 'root-cert.pem')]);
  writeFileSync(join(dir, 'cert-chain.pem'), options.chainWithRoot ? caCert + rootCert : caCert);
}

describe('plugged-in CA (Istio cacerts layout)', () => {
  it.each([false, true])(
    'signs with ca-cert.pem and answers leaf, intermediate, root (cert-chain.pem with root: %s)',
    async (chainWithRoot) => {
      const dir = tempDir('flotilla-cacerts-');
      makeCacerts(dir, { chainWithRoot });
      const ca = new CertificateAuthority(loadCacerts(dir), OPTIONS);
      const issued = await issueFor(ca, dir, 'alice', ALICE);
      expect(issued.chainPem).toHaveLength(3);
      expect(new X509Certificate(issued.chainPem[1]).subject).toContain('CN=Citadel Intermediate');
      expect(new X509Certificate(issued.chainPem[2]).subject).toContain('CN=Example Root');
      const leaf = writeTemp(dir, 'leaf.pem', issued.chainPem[0]);
      const untrusted = writeTemp(dir, 'untrusted.pem', issued.chainPem[1]);
      expect(
        openssl([
          'verify',
          '-x509_strict',
          '-CAfile',
          join(dir, 'root-cert.pem'),
          '-untrusted',
          untrusted,
          leaf,
        ]).trim(),
      ).toBe(`${leaf}: OK`);
      // The leaf alone does not verify against the root: the intermediate really is in the path.
      expect(opensslResult(['verify', '-CAfile', join(dir, 'root-cert.pem'), leaf]).status).not.toBe(0);
    },
  );

  it('refuses a ca-key.pem that is not the key of ca-cert.pem', () => {
    const dir = tempDir('flotilla-cacerts-');
    makeCacerts(dir);
    writeFileSync(join(dir, 'ca-key.pem'), opensslKey(dir, 'other'));
    expect(() => loadCacerts(dir)).toThrow(new CaMaterialError('ca-key.pem is not the key of ca-cert.pem'));
  });

  it('refuses a root-cert.pem that ca-cert.pem does not chain to, and names missing files', () => {
    const dir = tempDir('flotilla-cacerts-');
    makeCacerts(dir);
    const other = tempDir('flotilla-cacerts-');
    makeCacerts(other);
    writeFileSync(join(dir, 'root-cert.pem'), openssl(['x509', '-in', join(other, 'root-cert.pem')]));
    expect(() => loadCacerts(dir)).toThrow(/does not chain to any certificate in root-cert.pem/);
    expect(() => loadCacerts(tempDir())).toThrow(/cannot read .*ca-cert\.pem/);
  });
});

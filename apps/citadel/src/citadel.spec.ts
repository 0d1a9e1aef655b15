import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { addRevocation, generatePkcs11EcKey, loadOrCreateTokenKey, signLocalToken } from '@flotilla/pki';
import { ca as caProto } from '@flotilla/proto';
import {
  KubeTokenReviewDouble,
  VaultDouble,
  openssl,
  opensslCsr,
  opensslKey,
  opensslResult,
  tempDir,
  waitFor,
  writeTemp,
} from '@flotilla/testing';
import { startCitadel } from './testing/start-citadel';
import type { RunningCitadel } from './testing/start-citadel';
import { toServiceError } from './grpc-errors';

const ALICE = 'spiffe://cluster.local/ns/default/sa/alice';
const BOB = 'spiffe://cluster.local/ns/shop/sa/bob';

interface CallOptions {
  token?: string;
  clientCert?: { cert: string; key: string };
  ttl?: number;
}

function createCertificate(running: RunningCitadel, csr: string, opts: CallOptions = {}): Promise<string[]> {
  const root = readFileSync(running.bundlePath);
  const credentials = opts.clientCert
    ? grpc.credentials.createSsl(root, Buffer.from(opts.clientCert.key), Buffer.from(opts.clientCert.cert))
    : grpc.credentials.createSsl(root);
  const client = new caProto.IstioCertificateServiceClient(running.address, credentials, {
    'grpc.ssl_target_name_override': 'localhost',
  });
  const metadata = new grpc.Metadata();
  if (opts.token) metadata.set('authorization', `Bearer ${opts.token}`);
  return new Promise((resolve, reject) => {
    client.createCertificate(
      { csr, validityDuration: opts.ttl ?? 0, metadata: { podName: 'alice-1' } },
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.certChain);
      },
    );
  });
}

async function expectStatus(promise: Promise<unknown>, code: grpc.status, details: RegExp) {
  const err = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as grpc.ServiceError | undefined;
  expect(err).toBeDefined();
  expect(grpc.status[err!.code]).toBe(grpc.status[code]);
  expect(err!.details).toMatch(details);
}

function localToken(running: RunningCitadel, namespace: string, serviceAccount: string): string {
  return signLocalToken(loadOrCreateTokenKey(running.options.stateDir), { namespace, serviceAccount });
}

describe('citadel CreateCertificate over TLS', () => {
  let running: RunningCitadel;
  let dir: string;
  beforeAll(async () => {
    running = await startCitadel();
    dir = tempDir();
  });
  afterAll(() => running.app.component.stop(1000));

  it('turns a local token and an openssl CSR into a chain, leaf first and root last, that openssl verifies', async () => {
    const chain = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
      token: localToken(running, 'default', 'alice'),
    });
    expect(chain).toHaveLength(2);
    expect(chain[1].trim()).toBe(
      readFileSync(join(running.options.stateDir, 'root-cert.pem'), 'utf8').trim(),
    );
    const leaf = writeTemp(dir, 'alice.pem', chain[0]);
    expect(openssl(['verify', '-x509_strict', '-CAfile', running.bundlePath, leaf]).trim()).toBe(
      `${leaf}: OK`,
    );
    expect(new X509Certificate(chain[0]).subjectAltName).toBe(`URI:${ALICE}`);
  });

  it('refuses a call without a token as UNAUTHENTICATED, saying what to send', async () => {
    await expectStatus(
      createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] })),
      grpc.status.UNAUTHENTICATED,
      /no credential: send "authorization: Bearer <token>"/,
    );
  });

  it('refuses a token signed by another key, or not a token at all, as UNAUTHENTICATED', async () => {
    const forged = signLocalToken(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, {
      namespace: 'default',
      serviceAccount: 'alice',
    });
    const csr = opensslCsr(dir, 'alice', { uris: [ALICE] });
    await expectStatus(
      createCertificate(running, csr, { token: forged }),
      grpc.status.UNAUTHENTICATED,
      /local token: the token signature does not verify/,
    );
    // Not a local token, and no TokenReview configured: nothing can check it.
    await expectStatus(
      createCertificate(running, csr, { token: 'opaque' }),
      grpc.status.UNAUTHENTICATED,
      /no credential/,
    );
  });

  it('refuses a CSR for another identity as PERMISSION_DENIED, naming both', async () => {
    await expectStatus(
      createCertificate(running, opensslCsr(dir, 'bob', { uris: [BOB] }), {
        token: localToken(running, 'default', 'alice'),
      }),
      grpc.status.PERMISSION_DENIED,
      /the CSR asks for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/bob but the caller is authenticated as spiffe:\/\/cluster\.local\/ns\/default\/sa\/alice/,
    );
  });

  it('refuses garbage CSRs and over-long TTLs as INVALID_ARGUMENT, and keeps serving', async () => {
    const token = localToken(running, 'default', 'alice');
    await expectStatus(
      createCertificate(running, 'not a csr', { token }),
      grpc.status.INVALID_ARGUMENT,
      /no PEM CERTIFICATE REQUEST/,
    );
    const garbage = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from('garbage').toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expectStatus(
      createCertificate(running, garbage, { token }),
      grpc.status.INVALID_ARGUMENT,
      /malformed CSR/,
    );
    await expectStatus(
      createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), { token, ttl: 91 * 86400 }),
      grpc.status.INVALID_ARGUMENT,
      /greater than the maximum allowed TTL 90d/,
    );
    const chain = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
      token,
      ttl: 600,
    });
    const leaf = new X509Certificate(chain[0]);
    expect(new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()).toBe((600 + 120) * 1000);
  });

  it('renews over mTLS with a still-valid client certificate, for that identity only, and not once revoked', async () => {
    const csr = opensslCsr(dir, 'renew', { uris: [ALICE] });
    const [cert] = await createCertificate(running, csr, { token: localToken(running, 'default', 'alice') });
    const clientCert = { cert, key: openssl(['pkey', '-in', join(dir, 'renew.key')]) };
    const renewed = await createCertificate(running, opensslCsr(dir, 'renewed', { uris: [ALICE] }), {
      clientCert,
    });
    expect(new X509Certificate(renewed[0]).subjectAltName).toBe(`URI:${ALICE}`);
    await expectStatus(
      createCertificate(running, opensslCsr(dir, 'bob', { uris: [BOB] }), { clientCert }),
      grpc.status.PERMISSION_DENIED,
      /authenticated as spiffe:\/\/cluster\.local\/ns\/default\/sa\/alice/,
    );
    addRevocation(running.options.stateDir, new X509Certificate(cert).serialNumber, 'keyCompromise');
    await waitFor('the revocation to be seen', async () => {
      const refused = await createCertificate(running, csr, { clientCert }).then(
        () => false,
        (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED && /is revoked/.test(e.details),
      );
      return refused || undefined;
    });
  });

  it('does not take a client certificate from another CA as proof of identity', async () => {
    const other = await startCitadel();
    try {
      const [cert] = await createCertificate(other, opensslCsr(dir, 'stranger', { uris: [ALICE] }), {
        token: localToken(other, 'default', 'alice'),
      });
      const clientCert = { cert, key: openssl(['pkey', '-in', join(dir, 'stranger.key')]) };
      await expectStatus(
        createCertificate(running, opensslCsr(dir, 'x', { uris: [ALICE] }), { clientCert }),
        grpc.status.UNAUTHENTICATED,
        /no credential/,
      );
    } finally {
      await other.app.component.stop(1000);
    }
  });
});

describe('citadel with Kubernetes TokenReview (against the TokenReview double)', () => {
  let kube: KubeTokenReviewDouble;
  let running: RunningCitadel;
  const dir = tempDir();
  beforeAll(async () => {
    kube = await KubeTokenReviewDouble.start();
    const tokenFile = writeTemp(dir, 'citadel-token', kube.issueReviewerToken());
    running = await startCitadel([
      '--kube-api-server',
      kube.url,
      '--kube-token-file',
      tokenFile,
      '--local-tokens',
      'false',
    ]);
  });
  afterAll(async () => {
    await running.app.component.stop(1000);
    await kube.close();
  });

  it('issues for a service-account token with audience istio-ca, asking the API with citadel’s own token', async () => {
    const token = kube.issueToken('default', 'alice', ['istio-ca']);
    const chain = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), { token });
    expect(new X509Certificate(chain[0]).subjectAltName).toBe(`URI:${ALICE}`);
    expect(kube.reviews.at(-1)).toEqual({ token, audiences: ['istio-ca'] });
  });

  it('refuses a token for another audience, an unknown token, and a local token when local tokens are off', async () => {
    const csr = opensslCsr(dir, 'alice', { uris: [ALICE] });
    await expectStatus(
      createCertificate(running, csr, { token: kube.issueToken('default', 'alice') }),
      grpc.status.UNAUTHENTICATED,
      /Kubernetes token: the token was not authenticated by TokenReview: .*token audiences .* is invalid for the target audiences \["istio-ca"\]/,
    );
    await expectStatus(
      createCertificate(running, csr, { token: 'double.unknown' }),
      grpc.status.UNAUTHENTICATED,
      /invalid bearer token/,
    );
    const local = signLocalToken(loadOrCreateTokenKey(tempDir()), {
      namespace: 'default',
      serviceAccount: 'alice',
    });
    await expectStatus(
      createCertificate(running, csr, { token: local }),
      grpc.status.UNAUTHENTICATED,
      /no credential/,
    );
  });

  it('answers UNAVAILABLE while the API server fails, so agents retry', async () => {
    kube.failures = { status: 503, count: 1 };
    await expectStatus(
      createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
        token: kube.issueToken('default', 'alice', ['istio-ca']),
      }),
      grpc.status.UNAVAILABLE,
      /TokenReview failed: HTTP 503/,
    );
  });
});

describe('citadel revocation endpoints', () => {
  let running: RunningCitadel;
  const dir = tempDir();
  beforeAll(async () => {
    running = await startCitadel();
  });
  afterAll(() => running.app.component.stop(1000));

  async function issue(name: string) {
    const [pem] = await createCertificate(running, opensslCsr(dir, name, { uris: [ALICE] }), {
      token: localToken(running, 'default', 'alice'),
    });
    return { path: writeTemp(dir, `${name}.pem`, pem), serial: new X509Certificate(pem).serialNumber };
  }

  /** `openssl ocsp` against our responder; asynchronous, since the responder runs in this very process. */
  const ocsp = (leaf: string) =>
    new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile(
        'openssl',
        [
          'ocsp',
          '-timeout',
          '10',
          '-url',
          `${running.http}/ca/ocsp`,
          '-issuer',
          running.bundlePath,
          '-cert',
          leaf,
          '-CAfile',
          running.bundlePath,
        ],
        (_err, stdout, stderr) => resolve({ stdout, stderr }),
      ),
    );

  it('answers `openssl ocsp` good, then revoked after `revoke`, with responses it verifies', async () => {
    const leaf = await issue('ocsp');
    const before = await ocsp(leaf.path);
    expect(before.stdout).toContain(`${leaf.path}: good`);
    expect(before.stderr).toMatch(/Response verify OK/);
    addRevocation(running.options.stateDir, leaf.serial, 'keyCompromise');
    const after = await waitFor('OCSP to say revoked', async () => {
      const out = await ocsp(leaf.path);
      return out.stdout.includes(`${leaf.path}: revoked`) ? out : undefined;
    });
    expect(after.stdout).toMatch(/Reason: keyCompromise/);
    expect(after.stderr).toMatch(/Response verify OK/);
  });

  it('serves a CRL that `openssl crl` verifies and that lists a revoked serial', async () => {
    const leaf = await issue('crl');
    addRevocation(running.options.stateDir, leaf.serial, 'superseded');
    const crlText = await waitFor('the CRL to list the serial', async () => {
      const der = Buffer.from(await (await fetch(`${running.http}/ca/crl`)).arrayBuffer());
      const crl = writeTemp(dir, 'list.crl.der', der);
      const result = opensslResult([
        'crl',
        '-inform',
        'DER',
        '-in',
        crl,
        '-CAfile',
        running.bundlePath,
        '-noout',
        '-text',
      ]);
      expect(result.stderr).toMatch(/verify OK/);
      return result.stdout.includes(`Serial Number: ${leaf.serial}`) ? result.stdout : undefined;
    });
    expect(crlText).toMatch(/Superseded/);
    const pem = await (await fetch(`${running.http}/ca/crl.pem`)).text();
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----/);
    const revokedCheck = opensslResult([
      'verify',
      '-crl_check',
      '-CAfile',
      running.bundlePath,
      '-CRLfile',
      writeTemp(dir, 'list.crl.pem', pem),
      leaf.path,
    ]);
    expect(revokedCheck.stdout + revokedCheck.stderr).toMatch(/certificate revoked/);
  });

  it('answers OCSP GET requests (RFC 6960 A.1) and garbage with malformedRequest, and serves the trust bundle', async () => {
    const leaf = await issue('get');
    const reqPath = join(dir, 'get-req.der');
    openssl(['ocsp', '-issuer', running.bundlePath, '-cert', leaf.path, '-reqout', reqPath, '-no_nonce']);
    const encoded = encodeURIComponent(readFileSync(reqPath).toString('base64'));
    const res = await fetch(`${running.http}/ca/ocsp/${encoded}`);
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    const respPath = writeTemp(dir, 'get-resp.der', Buffer.from(await res.arrayBuffer()));
    expect(openssl(['ocsp', '-respin', respPath, '-resp_text', '-CAfile', running.bundlePath])).toMatch(
      /Cert Status: good/,
    );
    const bad = await fetch(`${running.http}/ca/ocsp`, { method: 'POST', body: 'garbage' });
    expect(Buffer.from(await bad.arrayBuffer())).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]));
    expect(await (await fetch(`${running.http}/ca/trust-bundle.pem`)).text()).toBe(
      readFileSync(running.bundlePath, 'utf8'),
    );
  });
});

describe('citadel with a plugged-in CA (--cacerts-dir)', () => {
  it('signs with the intermediate and answers leaf, intermediate, root', async () => {
    const cacerts = tempDir('flotilla-cacerts-');
    opensslKey(cacerts, 'root');
    openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      join(cacerts, 'root.key'),
      '-subj',
      '/CN=Plugged Root',
      '-days',
      '30',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      join(cacerts, 'root-cert.pem'),
    ]);
    opensslKey(cacerts, 'ca');
    openssl([
      'req',
      '-new',
      '-key',
      join(cacerts, 'ca.key'),
      '-subj',
      '/CN=Plugged Intermediate',
      '-out',
      join(cacerts, 'ca.csr'),
    ]);
    const ext = writeTemp(
      cacerts,
      'ext',
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n',
    );
    openssl([
      'x509',
      '-req',
      '-in',
      join(cacerts, 'ca.csr'),
      '-CA',
      join(cacerts, 'root-cert.pem'),
      '-CAkey',
      join(cacerts, 'root.key'),
      '-CAcreateserial',
      '-days',
      '20',
      '-extfile',
      ext,
      '-out',
      join(cacerts, 'ca-cert.pem'),
    ]);
    openssl(['pkey', '-in', join(cacerts, 'ca.key'), '-out', join(cacerts, 'ca-key.pem')]);
    openssl(['x509', '-in', join(cacerts, 'ca-cert.pem'), '-out', join(cacerts, 'cert-chain.pem')]);
    const running = await startCitadel(['--cacerts-dir', cacerts]);
    try {
      const dir = tempDir();
      const chain = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
        token: localToken(running, 'default', 'alice'),
      });
      expect(chain.map((c) => new X509Certificate(c).subject ?? '')).toEqual([
        '',
        'CN=Plugged Intermediate',
        'CN=Plugged Root',
      ]);
      const leaf = writeTemp(dir, 'leaf.pem', chain[0]);
      const untrusted = writeTemp(dir, 'chain.pem', chain[1]);
      expect(
        openssl([
          'verify',
          '-x509_strict',
          '-CAfile',
          join(cacerts, 'root-cert.pem'),
          '-untrusted',
          untrusted,
          leaf,
        ]),
      ).toContain('OK');
    } finally {
      await running.app.component.stop(1000);
    }
  });
});

describe('gRPC error mapping', () => {
  it('hides the details of errors that are not CA errors', () => {
    expect(toServiceError(new Error('secret path /etc/x'))).toMatchObject({
      code: grpc.status.INTERNAL,
      details: 'internal error in the certificate authority',
    });
  });
});

describe('citadel with its CA key on a PKCS #11 token (SoftHSM2)', () => {
  it('keeps a root for the token key in --state-dir and issues leaves that verify with it', async () => {
    const token = `citadel-${process.pid}`;
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', token, '--pin', '1234', '--so-pin', '5678'],
      {
        stdio: 'pipe',
      },
    );
    const pkcs11 = {
      module: '/usr/lib/softhsm/libsofthsm2.so',
      tokenLabel: token,
      keyLabel: 'ca',
      pin: '1234',
    };
    await generatePkcs11EcKey(pkcs11);
    const running = await startCitadel([
      '--pkcs11-module',
      pkcs11.module,
      '--pkcs11-token-label',
      token,
      '--pkcs11-key-label',
      'ca',
      '--pkcs11-pin',
      '1234',
    ]);
    try {
      expect(running.citadel.ca.material.signer.description).toMatch(
        new RegExp(`^PKCS#11 token "${token}" key "ca" id [0-9a-f]{32}$`),
      );
      const dir = tempDir();
      const chain = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
        token: localToken(running, 'default', 'alice'),
      });
      const leaf = writeTemp(dir, 'leaf.pem', chain[0]);
      expect(openssl(['verify', '-x509_strict', '-CAfile', running.bundlePath, leaf]).trim()).toBe(
        `${leaf}: OK`,
      );
    } finally {
      await running.app.component.stop(1000);
      await running.citadel.ca.material.signer.close?.();
    }
  });
});

describe('citadel with its CA key in Vault (against the Vault test double)', () => {
  let vault: VaultDouble;
  beforeAll(async () => {
    vault = await VaultDouble.start({ kubernetes: { role: 'citadel', jwt: 'sa-jwt' } });
  });
  afterAll(() => vault.close());

  async function issueAndVerify(args: string[], stateDir?: string): Promise<string[]> {
    const running = await startCitadel(['--vault-address', vault.url, ...args], stateDir);
    try {
      const dir = tempDir();
      const chain = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
        token: localToken(running, 'default', 'alice'),
      });
      expect(chain.at(-1)!.trim()).toBe(vault.rootPem);
      expect(new X509Certificate(chain[0]).subjectAltName).toBe(`URI:${ALICE}`);
      const root = writeTemp(dir, 'root.pem', vault.rootPem);
      const leaf = writeTemp(dir, 'leaf.pem', chain[0]);
      const untrusted = writeTemp(dir, 'chain.pem', chain.slice(1, -1).join('\n'));
      expect(openssl(['verify', '-x509_strict', '-CAfile', root, '-untrusted', untrusted, leaf])).toContain(
        'OK',
      );
      return chain;
    } finally {
      await running.app.component.stop(1000);
    }
  }

  it('--vault-mode sign-leaf with --vault-token-file: Vault signs the workload certificate', async () => {
    const tokenFile = writeTemp(tempDir(), 'vault-token', `${vault.createToken()}\n`);
    const signs = vault.requests.filter((r) => r.path === '/v1/pki/sign/citadel').length;
    const chain = await issueAndVerify(['--vault-token-file', tokenFile]);
    expect(chain).toHaveLength(3);
    expect(vault.requests.filter((r) => r.path === '/v1/pki/sign/citadel')).toHaveLength(signs + 1);
  });

  it('--vault-mode sign-intermediate with --vault-k8s-role: citadel signs with the intermediate Vault signed', async () => {
    const jwtFile = writeTemp(tempDir(), 'sa-token', 'sa-jwt');
    const chain = await issueAndVerify([
      '--vault-mode',
      'sign-intermediate',
      '--vault-k8s-role',
      'citadel',
      '--kube-token-file',
      jwtFile,
    ]);
    expect(chain).toHaveLength(4);
    expect(new X509Certificate(chain[1]).subject).toContain('CN=Flotilla Citadel Intermediate CA');
  });

  it('--vault-mode sign-intermediate keeps the intermediate in --state-dir and reuses it after a restart', async () => {
    const stateDir = tempDir('flotilla-citadel-vault-state-');
    const args = [
      '--vault-mode',
      'sign-intermediate',
      '--vault-token-file',
      writeTemp(tempDir(), 'vault-token', vault.createToken()),
    ];
    const signs = () => vault.requests.filter((r) => r.path.endsWith('/root/sign-intermediate')).length;
    const before = signs();
    const first = await issueAndVerify(args, stateDir);
    const second = await issueAndVerify(args, stateDir);
    expect(signs()).toBe(before + 1);
    expect(second[1]).toBe(first[1]);
  });

  it('refuses to start with a Vault address and no way to authenticate', async () => {
    await expect(startCitadel(['--vault-address', vault.url])).rejects.toThrow(/--vault-token-file/);
  });
});

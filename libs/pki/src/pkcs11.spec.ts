import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { SOFTHSM_MODULE, initSoftHsmToken, openssl, opensslCsr, tempDir, writeTemp } from '@flotilla/testing';
import { CertificateAuthority } from './authority';
import { csrPemToDer } from './csr';
import { derToPem } from './der';
import { Pkcs11Signer, generatePkcs11EcKey } from './pkcs11-signer';
import type { Pkcs11Config } from './pkcs11-signer';
import { loadOrCreateSignerRoot } from './signer-root';
import { privateKeysOnToken } from './testing/softhsm';

const ALICE = 'spiffe://cluster.local/ns/default/sa/alice';

/** A SoftHSM2 token of this test file's own. */
const TOKEN = initSoftHsmToken('flotilla-ca');

const CONFIG: Pkcs11Config = {
  module: SOFTHSM_MODULE,
  tokenLabel: TOKEN,
  keyLabel: 'root',
  pin: '1234',
  sessions: 4,
};

describe('PKCS #11 signer (SoftHSM2)', () => {
  let signer: Pkcs11Signer;
  beforeAll(async () => {
    await generatePkcs11EcKey(CONFIG);
    signer = await Pkcs11Signer.open(CONFIG);
  });
  afterAll(() => signer?.close());

  it('makes a self-signed root and workload leaves that `openssl verify -x509_strict` accepts', async () => {
    const dir = tempDir();
    const ca = new CertificateAuthority(await loadOrCreateSignerRoot(dir, 'cluster.local', signer), {
      trustDomain: 'cluster.local',
      defaultTtlMs: 3600_000,
      maxTtlMs: 3600_000,
    });
    const rootPath = join(dir, 'root-cert.pem');
    expect(openssl(['verify', '-x509_strict', '-CAfile', rootPath, rootPath]).trim()).toBe(`${rootPath}: OK`);
    expect(openssl(['x509', '-noout', '-text', '-in', rootPath])).toMatch(
      /CA:TRUE[\s\S]*Certificate Sign, CRL Sign/,
    );
    const issued = await ca.issueWorkload(csrPemToDer(opensslCsr(dir, 'alice', { uris: [ALICE] })), ALICE, 0);
    const leaf = writeTemp(dir, 'leaf.pem', issued.chainPem[0]);
    expect(openssl(['verify', '-x509_strict', '-CAfile', rootPath, leaf]).trim()).toBe(`${leaf}: OK`);
    // Opening the same root again with the same key keeps it.
    const again = await loadOrCreateSignerRoot(dir, 'cluster.local', signer);
    expect(derToPem(again.signingCertificate, 'CERTIFICATE')).toBe(
      derToPem(ca.material.signingCertificate, 'CERTIFICATE'),
    );
  });

  it('signs 128 concurrent requests through 4 sessions on worker threads (no CKR_OPERATION_ACTIVE, no crash), each signature valid', async () => {
    const dir = tempDir();
    const ca = new CertificateAuthority(await loadOrCreateSignerRoot(dir, 'cluster.local', signer), {
      trustDomain: 'cluster.local',
      defaultTtlMs: 3600_000,
      maxTtlMs: 3600_000,
    });
    const csr = csrPemToDer(opensslCsr(dir, 'alice', { uris: [ALICE] }));
    const issued = await Promise.all(Array.from({ length: 128 }, () => ca.issueWorkload(csr, ALICE, 0)));
    const root = new X509Certificate(ca.material.signingCertificate);
    for (const cert of issued) expect(new X509Certificate(cert.der).verify(root.publicKey)).toBe(true);
    expect(new Set(issued.map((c) => c.serial)).size).toBe(128);
  });

  it('keeps the private key on the token: sensitive, not extractable, its value unreadable', () => {
    expect(privateKeysOnToken(TOKEN, 'root')).toEqual([
      { sensitive: true, extractable: false, valueReadable: false },
    ]);
  });

  it('names the token labels it found when the token is missing, and a missing key', async () => {
    await expect(Pkcs11Signer.open({ ...CONFIG, tokenLabel: 'nope' })).rejects.toThrow(
      new RegExp(`no PKCS #11 token labelled "nope" \\(tokens: .*"${TOKEN}"`),
    );
    await expect(Pkcs11Signer.open({ ...CONFIG, keyLabel: 'missing' })).rejects.toThrow(
      /no EC key pair labelled "missing"/,
    );
  });
});

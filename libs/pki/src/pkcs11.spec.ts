import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as pkcs11js from 'pkcs11js';
import { openssl, opensslCsr, tempDir, writeTemp } from '@flotilla/testing';
import { CertificateAuthority } from './authority';
import { csrPemToDer } from './csr';
import { derToPem } from './der';
import { Pkcs11Signer, generatePkcs11EcKey } from './pkcs11-signer';
import type { Pkcs11Config } from './pkcs11-signer';
import { loadOrCreateSignerRoot } from './signer-root';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const ALICE = 'spiffe://cluster.local/ns/default/sa/alice';

/**
 * A SoftHSM2 token of this test file's own, in the temporary token folder that jest.softhsm.cjs points
 * SOFTHSM2_CONF at (SoftHSM reads the variable from the real environment, which Jest's copy cannot change).
 */
const TOKEN = `flotilla-ca-${randomBytes(4).toString('hex')}`;
execFileSync(
  'softhsm2-util',
  ['--init-token', '--free', '--label', TOKEN, '--pin', '1234', '--so-pin', '5678'],
  {
    stdio: 'pipe',
  },
);

const CONFIG: Pkcs11Config = {
  module: MODULE,
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
    const lib = new pkcs11js.PKCS11();
    lib.load(MODULE);
    try {
      lib.C_Initialize();
    } catch (err) {
      if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((err as Error).message)) throw err;
    }
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === TOKEN)!;
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, '1234');
      } catch (err) {
        if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) throw err;
      }
      lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_LABEL, value: 'root' },
      ]);
      const key = lib.C_FindObjects(session)!;
      lib.C_FindObjectsFinal(session);
      const [sensitive, extractable] = lib.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
      ]);
      expect((sensitive.value as Buffer)[0]).toBe(1);
      expect((extractable.value as Buffer)[0]).toBe(0);
      expect(() => lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
    } finally {
      lib.C_CloseSession(session);
    }
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

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { opensslCsr, opensslResult, tempDir, writeTemp } from '@flotilla/testing';
import { CertificateAuthority } from './authority';
import { certificatesFromPem } from './certificate';
import { csrPemToDer } from './csr';
import { derToPem } from './der';
import { Pkcs11RootKeys } from './pkcs11-root-keys';
import { Pkcs11Signer, generatePkcs11EcKey } from './pkcs11-signer';
import type { Pkcs11Config } from './pkcs11-signer';
import {
  CA_ROOTS_FILE,
  FileRootCertificateStore,
  RootRotator,
  remainingLifetimeFraction,
} from './root-rotation';
import { createRootWithSigner } from './signer-root';
import { MODULE, initTestToken, privateKeysOnToken } from './testing/softhsm';
import { ALICE, BOB, HOUR, OPTIONS, TD, YEAR, issue, verify } from './testing/rotation';

/** This file's own SoftHSM2 token, in the token folder jest.softhsm.cjs points SOFTHSM2_CONF at. */
const TOKEN = initTestToken('flotilla-rotation');

const configFor = (keyLabel: string): Pkcs11Config => ({
  module: MODULE,
  tokenLabel: TOKEN,
  keyLabel,
  pin: '1234',
});

/**
 * A state folder whose ten-year root, signed by a new key pair labelled `keyLabel` on the token, was made 8.5
 * years ago: 15% of its life left, due for rotation.
 */
async function stateWithAgedTokenRoot(keyLabel: string): Promise<FileRootCertificateStore> {
  const config = configFor(keyLabel);
  await generatePkcs11EcKey(config);
  const signer = await Pkcs11Signer.open(config);
  try {
    const certificate = await createRootWithSigner(signer, TD, new Date(Date.now() - 8.5 * YEAR), 10 * YEAR);
    const store = new FileRootCertificateStore(tempDir('flotilla-hsm-rotation-'));
    await store.save({ certificate, bundle: [certificate] });
    return store;
  } finally {
    await signer.close();
  }
}

const spki = (der: Buffer | string) =>
  new X509Certificate(der).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

describe('RootRotator with the root key on a PKCS #11 token (SoftHSM2)', () => {
  it('re-signs a due root with the same token key: new serial and validity, same subject and key, both roots in ca-roots.pem, leaves from before and after verify -x509_strict against it', async () => {
    const store = await stateWithAgedTokenRoot('same-key');
    const oldRoot = readFileSync(join(store.dir, 'root-cert.pem'), 'utf8');
    const rotator = await RootRotator.open(store, OPTIONS, new Pkcs11RootKeys(configFor('same-key')));
    const dir = tempDir();
    try {
      const before = await issue(rotator.material, dir, 'alice', ALICE);
      const changes: string[] = [];
      rotator.on('change', (_material, outcome: string) => changes.push(outcome));

      expect(await rotator.check()).toBe('rotated');
      expect(changes).toEqual(['rotated']);

      const newRoot = readFileSync(join(store.dir, 'root-cert.pem'), 'utf8');
      expect(newRoot).not.toBe(oldRoot);
      expect(derToPem(rotator.root.certificate, 'CERTIFICATE')).toBe(newRoot);
      const next = new X509Certificate(newRoot);
      const previous = new X509Certificate(oldRoot);
      expect(next.serialNumber).not.toBe(previous.serialNumber);
      expect(next.subject).toBe(previous.subject);
      expect(spki(newRoot)).toBe(spki(oldRoot));
      expect(Date.parse(next.validTo) - Date.parse(next.validFrom)).toBe(
        Date.parse(previous.validTo) - Date.parse(previous.validFrom),
      );
      expect(remainingLifetimeFraction(rotator.root.certificate, Date.now())).toBeGreaterThan(0.99);
      // No key file: the key stayed on the token.
      expect(() => readFileSync(join(store.dir, 'root-key.pem'))).toThrow(/ENOENT/);

      const bundlePath = join(store.dir, CA_ROOTS_FILE);
      expect(
        certificatesFromPem(readFileSync(bundlePath, 'utf8')).map((der) => derToPem(der, 'CERTIFICATE')),
      ).toEqual([newRoot, oldRoot]);
      const rootPath = join(store.dir, 'root-cert.pem');
      expect(opensslResult(['verify', '-x509_strict', '-CAfile', rootPath, rootPath]).stdout).toMatch(/OK/);

      const after = await issue(rotator.material, dir, 'bob', BOB);
      expect(after.chainPem.at(-1)).toBe(newRoot);
      expect(verify(dir, bundlePath, before).stdout).toMatch(/: OK/);
      expect(verify(dir, bundlePath, after).stdout).toMatch(/: OK/);

      // A restart finds the new root, the same token key for it, and nothing due.
      const reopened = await RootRotator.open(store, OPTIONS, new Pkcs11RootKeys(configFor('same-key')));
      try {
        expect(reopened.root.certificate.equals(rotator.root.certificate)).toBe(true);
        expect(await reopened.check()).toBe('unchanged');
      } finally {
        await reopened.close();
      }
    } finally {
      await rotator.close();
    }
  });

  it('CA key rotation makes a new key pair on the token that signs from then on, also after a restart, while the bundle keeps old leaves verifying', async () => {
    const store = await stateWithAgedTokenRoot('new-key');
    const oldRoot = readFileSync(join(store.dir, 'root-cert.pem'), 'utf8');
    const keys = new Pkcs11RootKeys(configFor('new-key'));
    const rotator = await RootRotator.open(store, { ...OPTIONS, rotateKey: true }, keys);
    const dir = tempDir();
    try {
      const oldSigner = rotator.material.signer.description;
      const before = await issue(rotator.material, dir, 'alice', ALICE);

      expect(await rotator.check()).toBe('rotated');
      const newRoot = readFileSync(join(store.dir, 'root-cert.pem'), 'utf8');
      expect(spki(newRoot)).not.toBe(spki(oldRoot));
      expect(rotator.material.signer.description).not.toBe(oldSigner);
      expect(rotator.material.signer.description).toMatch(
        /^PKCS#11 token ".*" key "new-key" id [0-9a-f]{32}$/,
      );
      // Both key pairs are on the token under the label, and neither private key can be read out of it.
      expect(privateKeysOnToken(TOKEN, 'new-key')).toEqual([
        { sensitive: true, extractable: false, valueReadable: false },
        { sensitive: true, extractable: false, valueReadable: false },
      ]);

      const after = await issue(rotator.material, dir, 'bob', BOB);
      const bundlePath = join(store.dir, CA_ROOTS_FILE);
      expect(verify(dir, bundlePath, before).stdout).toMatch(/: OK/);
      expect(verify(dir, bundlePath, after).stdout).toMatch(/: OK/);
      // The bundle is what makes it work: the new root alone does not vouch for the old key's leaves.
      const newRootOnly = writeTemp(dir, 'new-root.pem', newRoot);
      expect(verify(dir, newRootOnly, before).status).not.toBe(0);

      // With two pairs under the label, the label alone no longer says which key signs; the root does.
      await expect(Pkcs11Signer.open(configFor('new-key'))).rejects.toThrow(
        /2 EC key pairs are labelled "new-key" on token/,
      );
      const reopened = await RootRotator.open(store, OPTIONS, keys);
      try {
        expect(reopened.material.signer.description).toBe(rotator.material.signer.description);
        const later = await issue(reopened.material, dir, 'carol', ALICE);
        expect(later.chainPem.at(-1)).toBe(newRoot);
        expect(verify(dir, bundlePath, later).stdout).toMatch(/: OK/);
      } finally {
        await reopened.close();
      }
      // The replaced signer is closed at the next check, and the current one keeps signing.
      expect(await rotator.check()).toBe('unchanged');
      expect(verify(dir, bundlePath, await issue(rotator.material, dir, 'dave', BOB)).stdout).toMatch(/: OK/);
    } finally {
      await rotator.close();
    }
  });

  it('signs concurrently through the session pool while the root rotates to a new token key: every certificate is valid under the root it chains to', async () => {
    const store = await stateWithAgedTokenRoot('busy');
    const rotator = await RootRotator.open(
      store,
      { ...OPTIONS, rotateKey: true },
      new Pkcs11RootKeys(configFor('busy')),
    );
    const dir = tempDir();
    try {
      const csr = csrPemToDer(opensslCsr(dir, 'alice', { uris: [ALICE] }));
      const oldCa = new CertificateAuthority(rotator.material, {
        trustDomain: TD,
        defaultTtlMs: HOUR,
        maxTtlMs: HOUR,
      });
      const during = Array.from({ length: 64 }, () => oldCa.issueWorkload(csr, ALICE, 0));
      expect(await rotator.check()).toBe('rotated');
      const newCa = new CertificateAuthority(rotator.material, {
        trustDomain: TD,
        defaultTtlMs: HOUR,
        maxTtlMs: HOUR,
      });
      const issued = await Promise.all([
        ...during,
        ...Array.from({ length: 64 }, () => newCa.issueWorkload(csr, ALICE, 0)),
      ]);
      for (const cert of issued) {
        const root = new X509Certificate(cert.chainPem.at(-1)!);
        expect(new X509Certificate(cert.der).verify(root.publicKey)).toBe(true);
      }
      expect(new Set(issued.map((c) => c.chainPem.at(-1))).size).toBe(2);
    } finally {
      await rotator.close();
    }
  });

  it('refuses a state folder whose root no key pair under the label carries', async () => {
    const store = await stateWithAgedTokenRoot('lost');
    await generatePkcs11EcKey(configFor('other'));
    await expect(RootRotator.open(store, OPTIONS, new Pkcs11RootKeys(configFor('other')))).rejects.toThrow(
      /no EC key pair labelled "other" on token ".*" has the public key of the CA certificate/,
    );
  });
});

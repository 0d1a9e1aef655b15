import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SOFTHSM_MODULE,
  initSoftHsmToken,
  opensslCsr,
  opensslResult,
  tempDir,
  writeTemp,
} from '@flotilla/testing';
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
  RootStoreConflictError,
  remainingLifetimeFraction,
} from './root-rotation';
import type {
  RootKeyCustody,
  RootRotatorOptions,
  RootStore,
  StoredRoot,
  TokenRootKey,
} from './root-rotation';
import { createRootWithSigner } from './signer-root';
import { keyIdsOnToken, privateKeysOnToken } from './testing/softhsm';
import { ALICE, BOB, HOUR, OPTIONS, TD, YEAR, issue, verify } from './testing/rotation';

/** This file's own SoftHSM2 token, in the token folder jest.softhsm.cjs points SOFTHSM2_CONF at. */
const TOKEN = initSoftHsmToken('flotilla-rotation');

const configFor = (keyLabel: string): Pkcs11Config => ({
  module: SOFTHSM_MODULE,
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

/** The CKA_ID a token signer's description names (`… id 0a1b…`). */
const keyIdOf = (description: string) => /id ([0-9a-f]+)$/.exec(description)![1];

/** Opens a rotator on the token's keys as a restart would, runs `use` with it and closes it whatever happens. */
async function withRotator(
  store: RootStore<StoredRoot<TokenRootKey>>,
  options: RootRotatorOptions,
  keys: RootKeyCustody<TokenRootKey>,
  use: (rotator: RootRotator<TokenRootKey>) => Promise<void>,
): Promise<void> {
  const rotator = await RootRotator.open(store, options, keys);
  try {
    await use(rotator);
  } finally {
    await rotator.close();
  }
}

/**
 * A root store several rotators share, as replicas share istio-ca-secret: each `view()` is one writer, and a save
 * from a view whose last load is older than the stored root is refused with RootStoreConflictError, as the API
 * server refuses a stale resourceVersion. `holdLoads(n)` makes the next n loads wait for one another, so those
 * writers read the same version and race to save.
 */
class SharedRootStore {
  root: StoredRoot<TokenRootKey> | undefined;
  private version = 0;
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  holdLoads(count: number): void {
    this.held = count;
  }

  view(): RootStore<StoredRoot<TokenRootKey>> {
    let seen = -1;
    return {
      description: 'shared test store',
      load: async () => {
        await this.gate();
        seen = this.version;
        return this.root;
      },
      save: async (root) => {
        if (seen !== this.version)
          throw new RootStoreConflictError('the shared root changed since it was read');
        this.root = root;
        seen = ++this.version;
      },
    };
  }

  private gate(): Promise<void> {
    if (this.held === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length < this.held) return;
      this.held = 0;
      for (const release of this.waiting.splice(0)) release();
    });
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
      await withRotator(store, OPTIONS, new Pkcs11RootKeys(configFor('same-key')), async (reopened) => {
        expect(reopened.root.certificate.equals(rotator.root.certificate)).toBe(true);
        expect(await reopened.check()).toBe('unchanged');
      });
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
      await withRotator(store, OPTIONS, keys, async (reopened) => {
        expect(reopened.material.signer.description).toBe(rotator.material.signer.description);
        const later = await issue(reopened.material, dir, 'carol', ALICE);
        expect(later.chainPem.at(-1)).toBe(newRoot);
        expect(verify(dir, bundlePath, later).stdout).toMatch(/: OK/);
      });
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

  it('destroys the old key pair on the token once its root has expired and left the trust bundle, never before; the current pair stays and a restart signs with it', async () => {
    const store = await stateWithAgedTokenRoot('retiring');
    const keys = new Pkcs11RootKeys(configFor('retiring'));
    let now = Date.now();
    const rotator = await RootRotator.open(store, { ...OPTIONS, rotateKey: true, now: () => now }, keys);
    const destroyed: string[] = [];
    rotator.on('keyDestroyed', (description: string) => destroyed.push(description));
    rotator.on('keyDestroyError', (err: Error) => destroyed.push(`error: ${err.message}`));
    const dir = tempDir();
    try {
      const oldId = keyIdOf(rotator.material.signer.description);
      expect(await rotator.check()).toBe('rotated');
      const current = rotator.material.signer.description;
      const newId = keyIdOf(current);
      const both = [oldId, newId].sort();
      expect(keyIdsOnToken(TOKEN, 'retiring')).toEqual({ private: both, public: both });

      // A year on, the old root (1.5 years left at the rotation) is still trusted: its key stays.
      now += YEAR;
      expect(await rotator.check()).toBe('unchanged');
      expect(keyIdsOnToken(TOKEN, 'retiring')).toEqual({ private: both, public: both });

      // Another year, and it has expired: pruned from the bundle, and its key pair destroyed, private and public.
      now += YEAR;
      expect(await rotator.check()).toBe('pruned');
      expect(rotator.root.bundle).toHaveLength(1);
      expect(keyIdsOnToken(TOKEN, 'retiring')).toEqual({ private: [newId], public: [newId] });
      expect(destroyed).toEqual([
        `PKCS#11 token "${TOKEN}" key "retiring" id ${oldId} (private and public key)`,
      ]);
      expect(await rotator.check()).toBe('unchanged');
      expect(destroyed).toHaveLength(1);

      const bundlePath = join(store.dir, CA_ROOTS_FILE);
      expect(rotator.material.signer.description).toBe(current);
      expect(verify(dir, bundlePath, await issue(rotator.material, dir, 'alice', ALICE)).stdout).toMatch(
        /: OK/,
      );
      await withRotator(store, OPTIONS, keys, async (reopened) => {
        expect(reopened.material.signer.description).toBe(current);
        expect(verify(dir, bundlePath, await issue(reopened.material, dir, 'bob', BOB)).stdout).toMatch(
          /: OK/,
        );
      });
    } finally {
      await rotator.close();
    }
  });

  it('keeps a key that a root still in the bundle carries: after a same-key rotation the expired root goes, its key does not', async () => {
    const store = await stateWithAgedTokenRoot('kept');
    let now = Date.now();
    const rotator = await RootRotator.open(
      store,
      { ...OPTIONS, now: () => now },
      new Pkcs11RootKeys(configFor('kept')),
    );
    const destroyed: string[] = [];
    rotator.on('keyDestroyed', (description: string) => destroyed.push(description));
    try {
      const id = keyIdOf(rotator.material.signer.description);
      expect(await rotator.check()).toBe('rotated');
      now += 2 * YEAR;
      expect(await rotator.check()).toBe('pruned');
      expect(keyIdsOnToken(TOKEN, 'kept')).toEqual({ private: [id], public: [id] });
      expect(destroyed).toEqual([]);
    } finally {
      await rotator.close();
    }
  });

  it('reports a key it cannot destroy and carries on: the prune is stored, the key stays, the current key signs', async () => {
    const store = await stateWithAgedTokenRoot('stuck');
    const keys = new Pkcs11RootKeys(configFor('stuck'));
    const failing: RootKeyCustody<TokenRootKey> = {
      description: keys.description,
      firstKey: () => keys.firstKey(),
      signerOf: (root) => keys.signerOf(root),
      newKey: (current) => keys.newKey(current),
      destroyKey: () => Promise.reject(new Error('CKR_DEVICE_ERROR')),
    };
    let now = Date.now();
    const rotator = await RootRotator.open(store, { ...OPTIONS, rotateKey: true, now: () => now }, failing);
    const errors: string[] = [];
    rotator.on('keyDestroyError', (err: Error) => errors.push(err.message));
    const dir = tempDir();
    try {
      expect(await rotator.check()).toBe('rotated');
      now += 2 * YEAR;
      expect(await rotator.check()).toBe('pruned');
      expect(errors).toEqual(['CKR_DEVICE_ERROR']);
      expect(keyIdsOnToken(TOKEN, 'stuck').private).toHaveLength(2);
      expect(certificatesFromPem(readFileSync(join(store.dir, CA_ROOTS_FILE), 'utf8'))).toHaveLength(1);
      const bundlePath = join(store.dir, CA_ROOTS_FILE);
      expect(verify(dir, bundlePath, await issue(rotator.material, dir, 'alice', ALICE)).stdout).toMatch(
        /: OK/,
      );
    } finally {
      await rotator.close();
    }
  });

  it('replicas sharing a store and a token converge: a first root stored by one is taken up by the other, and of two CA key rotations at once one wins and the loser destroys its new key pair', async () => {
    await generatePkcs11EcKey(configFor('replicas'));
    const keys = new Pkcs11RootKeys(configFor('replicas'));
    const shared = new SharedRootStore();
    let now = Date.now() - 8.5 * YEAR;
    const options = { ...OPTIONS, rotateKey: true, rootLifetimeMs: 10 * YEAR, now: () => now };
    // Both find the store empty and make a root for the one key pair; the second save is refused.
    shared.holdLoads(2);
    const [a, b] = await Promise.all([
      RootRotator.open(shared.view(), options, keys),
      RootRotator.open(shared.view(), options, keys),
    ]);
    const destroyed: string[] = [];
    for (const rotator of [a, b]) {
      rotator.on('keyDestroyed', (description: string) => destroyed.push(description));
    }
    const dir = tempDir();
    try {
      expect(a.root.certificate.equals(shared.root!.certificate)).toBe(true);
      expect(b.root.certificate.equals(shared.root!.certificate)).toBe(true);
      expect(shared.root!.keyUri).toBe(
        `pkcs11:token=${TOKEN};object=replicas;id=${keyIdOf(a.material.signer.description).replace(/../g, '%$&')};type=private`,
      );
      const firstId = keyIdOf(a.material.signer.description);

      // 8.5 years on, both check at once: both read the due root, both make a key pair and a successor.
      now = Date.now();
      shared.holdLoads(2);
      const outcomes = await Promise.all([a.check(), b.check()]);
      expect([...outcomes].sort()).toEqual(['reloaded', 'rotated']);
      const [winner, loser] = outcomes[0] === 'rotated' ? [a, b] : [b, a];
      expect(loser.root.certificate.equals(winner.root.certificate)).toBe(true);
      expect(shared.root!.certificate.equals(winner.root.certificate)).toBe(true);
      expect(loser.material.signer.description).toBe(winner.material.signer.description);
      const winnerId = keyIdOf(winner.material.signer.description);
      const kept = [firstId, winnerId].sort();
      expect(keyIdsOnToken(TOKEN, 'replicas')).toEqual({ private: kept, public: kept });
      expect(destroyed).toHaveLength(1);
      expect(destroyed[0]).toMatch(
        new RegExp(`^PKCS#11 token "${TOKEN}" key "replicas" id (?!${winnerId}|${firstId})`),
      );

      const bundlePath = writeTemp(
        dir,
        'bundle.pem',
        shared.root!.bundle.map((der) => derToPem(der, 'CERTIFICATE')).join(''),
      );
      for (const [name, rotator] of [
        ['alice', a],
        ['bob', b],
      ] as const) {
        const leaf = await issue(rotator.material, dir, name, name === 'alice' ? ALICE : BOB);
        expect(leaf.chainPem.at(-1)).toBe(derToPem(winner.root.certificate, 'CERTIFICATE'));
        expect(verify(dir, bundlePath, leaf).stdout).toMatch(/: OK/);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

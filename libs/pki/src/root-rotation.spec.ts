import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { openssl, tempDir, writeTemp } from '@flotilla/testing';
import { certificatesFromPem } from './certificate';
import { derToPem } from './der';
import { loadOrCreateRoot } from './root-ca';
import {
  CA_ROOTS_FILE,
  FileRootStore,
  RootRotator,
  bundlePem,
  createSoftwareRoot,
  remainingLifetimeFraction,
} from './root-rotation';
import { ALICE, BOB, HOUR, OPTIONS, TD, YEAR, issue, verify } from './testing/rotation';

/** A folder holding a ten-year root created `ageYears` ago (8.5: 15% of its life left, due for rotation). */
async function storeWithRootAged(ageYears: number): Promise<FileRootStore> {
  const store = new FileRootStore(tempDir('flotilla-rotation-'));
  await store.save(await createSoftwareRoot(TD, Date.now() - ageYears * YEAR, 10 * YEAR));
  return store;
}

const uriOf = (socket: TLSSocket) => socket.getPeerCertificate().subjectaltname;

/** An mTLS handshake between two leaves, both sides trusting `ca`: what each side saw of its peer. */
async function handshake(
  server: { cert: string; key: string },
  client: { cert: string; key: string },
  ca: string,
): Promise<{ clientSaw?: string; serverSaw?: string }> {
  let serverSaw: string | undefined;
  const tls = createServer({ ...server, ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
    serverSaw = uriOf(socket);
    socket.end();
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  try {
    const clientSaw = await new Promise<string | undefined>((resolve, reject) => {
      const socket = connect(
        {
          host: '127.0.0.1',
          port: (tls.address() as AddressInfo).port,
          ...client,
          ca,
          checkServerIdentity: () => undefined, // SPIFFE peers are checked by URI SAN
        },
        () => {
          resolve(uriOf(socket));
          socket.end();
        },
      );
      socket.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 50));
    return { clientSaw, serverSaw };
  } finally {
    tls.close();
  }
}

describe('FileRootStore', () => {
  it('creates a root the first time and finds the same one after a restart', async () => {
    const dir = tempDir('flotilla-rotation-');
    const first = await RootRotator.open(new FileRootStore(dir), OPTIONS);
    const again = await RootRotator.open(new FileRootStore(dir), OPTIONS);
    expect(again.root.certificate.equals(first.root.certificate)).toBe(true);
    expect(again.material.roots).toHaveLength(1);
    expect(openssl(['x509', '-noout', '-subject', '-in', join(dir, 'root-cert.pem')])).toMatch(
      /O\s*=\s*cluster\.local, CN\s*=\s*Flotilla Root CA/,
    );
    expect(certificatesFromPem(readFileSync(join(dir, CA_ROOTS_FILE), 'utf8'))).toHaveLength(1);
    expect(statSync(join(dir, 'root-key.pem')).mode & 0o777).toBe(0o600);
  });

  it('reads a state folder written before rotation existed (no ca-roots.pem) as a bundle of its one root', async () => {
    const dir = tempDir('flotilla-rotation-');
    const legacy = await loadOrCreateRoot(dir, TD);
    const root = await new FileRootStore(dir).load();
    expect(root!.bundle.map((der) => derToPem(der, 'CERTIFICATE').trim())).toEqual([
      legacy.certificatePem.trim(),
    ]);
  });
});

describe('RootRotator', () => {
  it('leaves a root alone while more than the threshold of its life is left', async () => {
    const store = await storeWithRootAged(7.5);
    const rotator = await RootRotator.open(store, OPTIONS);
    expect(remainingLifetimeFraction(rotator.root.certificate, Date.now())).toBeGreaterThan(0.2);
    expect(await rotator.check()).toBe('unchanged');
  });

  it('rotates at 20% of life left, keeping the key: the old root stays in the bundle and old leaves verify against the new root alone', async () => {
    const store = await storeWithRootAged(8.5);
    const dir = tempDir();
    const rotator = await RootRotator.open(store, OPTIONS);
    const oldRoot = rotator.root.certificate;
    const before = await issue(rotator.material, dir, 'alice', ALICE);
    const changes: string[] = [];
    rotator.on('change', (_material, outcome: string) => changes.push(outcome));

    expect(await rotator.check()).toBe('rotated');
    expect(changes).toEqual(['rotated']);
    const { root } = rotator;
    expect(root.certificate.equals(oldRoot)).toBe(false);
    expect(root.bundle).toHaveLength(2);
    expect(root.bundle[1].equals(oldRoot)).toBe(true);
    const next = new X509Certificate(root.certificate);
    const previous = new X509Certificate(oldRoot);
    expect(next.subject).toBe(previous.subject);
    expect(next.publicKey.export({ format: 'der', type: 'spki' })).toEqual(
      previous.publicKey.export({ format: 'der', type: 'spki' }),
    );
    // Ten years again, from now.
    expect(Date.parse(next.validTo) - Date.parse(next.validFrom)).toBe(
      Date.parse(previous.validTo) - Date.parse(previous.validFrom),
    );
    expect(remainingLifetimeFraction(root.certificate, Date.now())).toBeGreaterThan(0.99);

    const after = await issue(rotator.material, dir, 'bob', BOB);
    expect(after.chainPem.at(-1)).toBe(derToPem(root.certificate, 'CERTIFICATE'));
    const newRootOnly = writeTemp(dir, 'new-root.pem', derToPem(root.certificate, 'CERTIFICATE'));
    expect(verify(dir, newRootOnly, before).status).toBe(0);
    expect(verify(dir, newRootOnly, after).status).toBe(0);

    // Persisted: a restart finds the new root and both roots in the bundle.
    const reloaded = await store.load();
    expect(reloaded!.certificate.equals(root.certificate)).toBe(true);
    expect(readFileSync(join(store.dir, CA_ROOTS_FILE), 'utf8')).toBe(bundlePem(root.bundle));
    expect(await rotator.check()).toBe('unchanged');
  });

  it('CA key rotation: a new key signs, and pre- and post-rotation leaves verify and complete an mTLS handshake through the bundle', async () => {
    const store = await storeWithRootAged(8.5);
    const dir = tempDir();
    const rotator = await RootRotator.open(store, { ...OPTIONS, rotateKey: true });
    const oldKey = rotator.root.keyPem;
    const before = await issue(rotator.material, dir, 'alice', ALICE);

    expect(await rotator.check()).toBe('rotated');
    expect(rotator.root.keyPem).not.toBe(oldKey);
    const after = await issue(rotator.material, dir, 'bob', BOB);

    const bundle = writeTemp(dir, 'bundle.pem', bundlePem(rotator.root.bundle));
    expect(verify(dir, bundle, before).stdout).toMatch(/OK/);
    expect(verify(dir, bundle, after).stdout).toMatch(/OK/);
    // The bundle is what makes it work: the new root alone does not vouch for the old key's leaves.
    const newRootOnly = writeTemp(dir, 'new-root.pem', derToPem(rotator.root.certificate, 'CERTIFICATE'));
    expect(verify(dir, newRootOnly, before).status).not.toBe(0);

    const key = (name: string) => openssl(['pkey', '-in', join(dir, `${name}.key`)]);
    const ca = readFileSync(bundle, 'utf8');
    const seen = await handshake(
      { cert: before.chainPem[0], key: key('alice') },
      { cert: after.chainPem[0], key: key('bob') },
      ca,
    );
    expect(seen).toEqual({ clientSaw: `URI:${ALICE}`, serverSaw: `URI:${BOB}` });
    // And without the old root the server's certificate is refused.
    await expect(
      handshake(
        { cert: before.chainPem[0], key: key('alice') },
        { cert: after.chainPem[0], key: key('bob') },
        derToPem(rotator.root.certificate, 'CERTIFICATE'),
      ),
    ).rejects.toThrow(/unable to verify the first certificate/);
  });

  it('drops roots that have expired from the bundle', async () => {
    const store = await storeWithRootAged(1);
    const current = (await store.load())!;
    const expired = await createSoftwareRoot(TD, Date.now() - 2 * HOUR, HOUR);
    await store.save({ ...current, bundle: [current.certificate, expired.certificate] });
    const rotator = await RootRotator.open(store, OPTIONS);
    expect(rotator.material.roots).toHaveLength(2);
    expect(await rotator.check()).toBe('pruned');
    expect(rotator.material.roots).toHaveLength(1);
    expect(certificatesFromPem(readFileSync(join(store.dir, CA_ROOTS_FILE), 'utf8'))).toHaveLength(1);
  });

  it('takes up a root another replica rotated into the shared store', async () => {
    const store = await storeWithRootAged(8.5);
    const mine = await RootRotator.open(store, OPTIONS);
    const theirs = await RootRotator.open(new FileRootStore(store.dir), OPTIONS);
    expect(await theirs.check()).toBe('rotated');
    expect(await mine.check()).toBe('reloaded');
    expect(mine.root.certificate.equals(theirs.root.certificate)).toBe(true);
  });

  it('checks periodically once started, reporting the change', async () => {
    const store = await storeWithRootAged(8.5);
    const rotator = await RootRotator.open(store, { ...OPTIONS, checkIntervalMs: 20 });
    const changed = new Promise((resolve) => rotator.once('change', (_m, outcome) => resolve(outcome)));
    rotator.start();
    try {
      expect(await changed).toBe('rotated');
    } finally {
      rotator.stop();
    }
  });

  it('refuses a threshold outside (0, 1) and a key that does not match the certificate', async () => {
    const store = await storeWithRootAged(0);
    await expect(RootRotator.open(store, { ...OPTIONS, threshold: 1.5 })).rejects.toThrow(
      /threshold must be between 0 and 1/,
    );
    const other = await createSoftwareRoot(TD, Date.now());
    writeFileSync(join(store.dir, 'root-key.pem'), other.keyPem);
    await expect(RootRotator.open(store, OPTIONS)).rejects.toThrow(/does not match its certificate/);
  });
});

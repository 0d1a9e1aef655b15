import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaKeyMaterial } from './authority';
import { certificatesFromPem, parseCertificateDer } from './certificate';
import { derToPem } from './der';
import { ROOT_CERT_FILE, ROOT_KEY_FILE } from './root-ca';
import { SoftwareSigner } from './signer';
import type { Signer } from './signer';
import { createRootWithSigner } from './signer-root';
import { PeriodicCheck } from './periodic-check';

/**
 * The certificates of a self-signed root: the current root, and the trust bundle that goes with it (the current
 * root first, then older roots still trusted during a rotation's overlap). Where the key is, is another matter
 * (see RootKeyCustody).
 */
export interface RootCertificates {
  /** DER of the current root, the one new certificates chain to. */
  certificate: Buffer;
  /** DER roots workloads trust, the current one first. */
  bundle: Buffer[];
}

/** What a stored root holds of a key kept in this process: the key itself. */
export interface SoftwareRootKey {
  /** PKCS #8 PEM of the root's private key. */
  keyPem: string;
}

/**
 * What a stored root holds of a key kept on a PKCS #11 token: never the key, at most a reference to it for people
 * and error messages (`keyUri`, an RFC 7512 PKCS #11 URI); the root's public key is what finds the key there.
 */
export interface TokenRootKey {
  keyUri?: string;
}

/** A stored root: its certificates, and whatever names its key (`K`: a key PEM, or a token key's reference). */
export type StoredRoot<K extends object> = RootCertificates & K;

/** A self-signed root whose key is held in this process, with its trust bundle. */
export type SelfSignedRoot = StoredRoot<SoftwareRootKey>;

/**
 * What RootStore.save throws when another writer stored a root after this store last loaded one: nothing was
 * written, and the rotator takes up the stored root instead.
 */
export class RootStoreConflictError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RootStoreConflictError';
  }
}

/**
 * Where a self-signed root is kept between runs: the state folder or Istio's istio-ca-secret, with its software
 * key (`SelfSignedRoot`) or, for a token key, with the certificates alone (`RootCertificates`, in the state folder)
 * or with a reference to the key (`StoredRoot<TokenRootKey>`, in istio-ca-secret).
 */
export interface RootStore<R extends RootCertificates = SelfSignedRoot> {
  /** For logs: "folder /var/lib/citadel", "Secret istio-system/istio-ca-secret". */
  readonly description: string;
  /** The stored root, or undefined when none has been stored yet. */
  load(): Promise<R | undefined>;
  /**
   * Stores `root`. A store shared by several writers (replicas) throws RootStoreConflictError, writing nothing,
   * when the root changed since its last load().
   */
  save(root: R): Promise<void>;
}

/** A key the rotator signs with, and what a stored root keeps of it. */
export interface CustodiedKey<K extends object> {
  signer: Signer;
  stored: K;
}

/**
 * The part of root rotation that depends on where the root's key is held; RootRotator does the rest (when to
 * rotate, the successor certificate, the trust bundle, storing, events) the same way for every custody.
 * `softwareRootKeys` keeps keys in this process and stores their PEM with the root; `Pkcs11RootKeys` keeps them
 * on a token and stores nothing of them.
 */
export interface RootKeyCustody<K extends object> {
  /** For logs: "software keys", "PKCS#11 token "ca" keys labelled "ca"". */
  readonly description: string;
  /** The key a first root is made for, when the store holds none. */
  firstKey(): Promise<CustodiedKey<K>>;
  /** A signer for the key of a stored root (the rotator checks it is the key of `root.certificate`). */
  signerOf(root: StoredRoot<K>): Promise<Signer>;
  /** A new key of the same kind as `current`'s (same curve or modulus size), for CA key rotation. */
  newKey(current: Signer): Promise<CustodiedKey<K>>;
  /**
   * Destroys the key with this public key, which no root in the trust bundle carries any more (or which signed
   * nothing stored); resolves with a description of each thing destroyed, none when the key is already gone.
   * Absent where nothing outlives the stored root (a software key is in the stored root itself).
   */
  destroyKey?(publicKey: KeyObject): Promise<string[]>;
}

/** The CA's own roots in the state folder, next to root-cert.pem and root-key.pem. */
export const CA_ROOTS_FILE = 'ca-roots.pem';

/**
 * A root's certificates in a folder: root-cert.pem (current root) and ca-roots.pem (every root of this CA still
 * trusted, current first; absent in folders written before rotation existed, meaning just the current root).
 * The key is elsewhere (on a token). Each file is replaced atomically, root-cert.pem first: a crash between the
 * two leaves the new root current and the old bundle, which load() completes by putting the current root first.
 */
export class FileRootCertificateStore implements RootStore<RootCertificates> {
  readonly description: string;

  constructor(readonly dir: string) {
    this.description = `folder ${dir}`;
  }

  async load(): Promise<RootCertificates | undefined> {
    const certificatePem = readOptional(join(this.dir, ROOT_CERT_FILE));
    if (certificatePem === undefined) return undefined;
    const [certificate] = certificatesFromPem(certificatePem);
    if (!certificate) throw new Error(`${join(this.dir, ROOT_CERT_FILE)} holds no certificate`);
    const bundle = certificatesFromPem(readOptional(join(this.dir, CA_ROOTS_FILE)) ?? '');
    return { certificate, bundle: withCurrentFirst(certificate, bundle) };
  }

  async save(root: RootCertificates): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    writeAtomically(join(this.dir, ROOT_CERT_FILE), derToPem(root.certificate, 'CERTIFICATE'));
    writeAtomically(join(this.dir, CA_ROOTS_FILE), bundlePem(root.bundle));
  }
}

/**
 * A root and its software key in a folder: the certificates as FileRootCertificateStore keeps them, and
 * root-key.pem (owner-only), written first.
 */
export class FileRootStore implements RootStore<SelfSignedRoot> {
  readonly description: string;
  private readonly certificates: FileRootCertificateStore;

  constructor(readonly dir: string) {
    this.description = `folder ${dir}`;
    this.certificates = new FileRootCertificateStore(dir);
  }

  async load(): Promise<SelfSignedRoot | undefined> {
    const certificates = await this.certificates.load();
    if (!certificates) return undefined;
    return { keyPem: readFileSync(join(this.dir, ROOT_KEY_FILE), 'utf8'), ...certificates };
  }

  async save(root: SelfSignedRoot): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    writeAtomically(join(this.dir, ROOT_KEY_FILE), root.keyPem, 0o600);
    await this.certificates.save(root);
  }
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function writeAtomically(path: string, content: string, mode = 0o644): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode });
  chmodSync(temp, mode);
  renameSync(temp, path);
}

function withCurrentFirst(current: Buffer, bundle: Buffer[]): Buffer[] {
  return [current, ...bundle.filter((der) => !der.equals(current))];
}

/** PEM of a list of DER certificates, one block after another. */
export function bundlePem(roots: readonly Buffer[]): string {
  return roots.map((der) => derToPem(der, 'CERTIFICATE')).join('');
}

/** The trust bundle without duplicates and without roots that have expired at `now`, order kept. */
export function pruneTrustBundle(roots: readonly Buffer[], now: number): Buffer[] {
  const kept: Buffer[] = [];
  for (const der of roots) {
    if (kept.some((k) => k.equals(der))) continue;
    if (parseCertificateDer(der).notAfter.getTime() <= now) continue;
    kept.push(der);
  }
  return kept;
}

/** How much of a certificate's lifetime is left at `now`, from 1 (just issued) to 0 (expired). */
export function remainingLifetimeFraction(der: Buffer, now: number): number {
  const { notBefore, notAfter } = parseCertificateDer(der);
  const lifetime = notAfter.getTime() - notBefore.getTime();
  if (lifetime <= 0) return 0;
  return Math.min(1, Math.max(0, (notAfter.getTime() - now) / lifetime));
}

/** A new key of the same kind as `like` (same curve or modulus size), for CA key rotation. */
function newKeyLike(like: KeyObject): KeyObject {
  const details = like.asymmetricKeyDetails;
  if (like.asymmetricKeyType === 'rsa') {
    return generateKeyPairSync('rsa', { modulusLength: details?.modulusLength ?? 2048 }).privateKey;
  }
  const namedCurve = like.asymmetricKeyType === 'ec' ? (details?.namedCurve ?? 'P-256') : 'P-256';
  return generateKeyPairSync('ec', { namedCurve }).privateKey;
}

function keyPemOf(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string;
}

function softwareKey(key: KeyObject): CustodiedKey<SoftwareRootKey> {
  return { signer: new SoftwareSigner(key), stored: { keyPem: keyPemOf(key) } };
}

/** Keys held in this process: a new P-256 key for a first root, the stored PEM afterwards. */
export const softwareRootKeys: RootKeyCustody<SoftwareRootKey> = {
  description: 'software keys',
  firstKey: async () => softwareKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
  signerOf: async (root) => SoftwareSigner.fromPem(root.keyPem),
  newKey: async (current) => softwareKey(newKeyLike(current.publicKey)),
};

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

/** A fresh self-signed root with a new P-256 key. */
export async function createSoftwareRoot(
  trustDomain: string,
  now: number,
  lifetimeMs = TEN_YEARS_MS,
): Promise<SelfSignedRoot> {
  const { signer, stored } = await softwareRootKeys.firstKey();
  const certificate = await createRootWithSigner(signer, trustDomain, new Date(now), lifetimeMs);
  return { ...stored, certificate, bundle: [certificate] };
}

/**
 * The successor of `root`'s certificates, signed by `signer` (the old key or a new one): a new self-signed
 * certificate with a new serial, the same subject and the same lifetime from `now`, put first in the trust
 * bundle, where the old root stays until it expires so certificates issued under it keep verifying.
 */
async function successorCertificates(
  root: RootCertificates,
  signer: Signer,
  trustDomain: string,
  now: number,
): Promise<RootCertificates> {
  const old = parseCertificateDer(root.certificate);
  const lifetimeMs = old.notAfter.getTime() - old.notBefore.getTime();
  const certificate = await createRootWithSigner(
    signer,
    trustDomain,
    // createRootWithSigner back-dates by a minute; add it back so the lifetime stays exactly the old one.
    new Date(now),
    lifetimeMs - 60_000,
    old.subject,
  );
  return { certificate, bundle: pruneTrustBundle([certificate, ...root.bundle], now) };
}

export interface RootRotatorOptions {
  trustDomain: string;
  /** Rotate when at most this fraction of the root's lifetime is left (Istio: 0.2). */
  threshold: number;
  /** Sign the new root with a new key instead of the old one. */
  rotateKey: boolean;
  /** How often `start()` checks the root. */
  checkIntervalMs: number;
  /** Lifetime of the first root, when the store has none. */
  rootLifetimeMs?: number;
  now?: () => number;
}

/** What a check did: nothing, took a root another writer stored, rotated, or dropped expired roots. */
export type RotationOutcome = 'unchanged' | 'reloaded' | 'rotated' | 'pruned';

const spkiOf = (signer: Signer) => signer.publicKey.export({ format: 'der', type: 'spki' });

/**
 * Keeps a self-signed root fresh: loads it from its store (creating and storing one the first time), and on
 * each check rotates it once `threshold` of its lifetime or less is left, drops expired roots from the trust
 * bundle, and takes up a root another replica stored, also when that replica's write beat this one's (the store
 * refused ours with RootStoreConflictError). Emits `change` (material: CaKeyMaterial, outcome) after each change
 * and `error` (Error) when a periodic check fails (it is tried again at the next interval).
 *
 * Keys outlive their roots only on a token: once a check has seen every root carrying a key expire and leave the
 * trust bundle, and the key is not the current one, the custody's `destroyKey` destroys it (a new key whose
 * rotation lost to another replica's goes at once). Each destroyed key is reported as `keyDestroyed` (description:
 * string) and a failure as `keyDestroyError` (Error): the key stays and the rotator carries on.
 *
 * The rotator works on certificates and a Signer; where the key lives is its RootKeyCustody's business
 * (`softwareRootKeys` by default, `Pkcs11RootKeys` for a key on a token), so a token-held root is rotated by
 * the same code, signing its successor through the token. The signer is kept while roots keep its key;
 * one replaced (CA key rotation, or a stored root with another key) is closed at the next check, when no
 * certificate can still be on its way through it, or by close().
 */
export class RootRotator<K extends object = SoftwareRootKey> extends EventEmitter {
  private current: StoredRoot<K>;
  private signer: Signer;
  private currentMaterial: CaKeyMaterial;
  private retired: Signer[] = [];
  private readonly periodic = new PeriodicCheck<RotationOutcome>(
    () => this.checkOnce(),
    (err) => this.emit('error', err),
  );
  private readonly now: () => number;

  private constructor(
    readonly store: RootStore<StoredRoot<K>>,
    readonly options: RootRotatorOptions,
    readonly keys: RootKeyCustody<K>,
    root: StoredRoot<K>,
    signer: Signer,
  ) {
    super();
    this.now = options.now ?? Date.now;
    this.current = root;
    this.signer = signer;
    this.currentMaterial = materialFor(root, signer);
  }

  static open(store: RootStore<SelfSignedRoot>, options: RootRotatorOptions): Promise<RootRotator>;
  static open<K extends object>(
    store: RootStore<StoredRoot<K>>,
    options: RootRotatorOptions,
    keys: RootKeyCustody<K>,
  ): Promise<RootRotator<K>>;
  static async open<K extends object>(
    store: RootStore<StoredRoot<K>>,
    options: RootRotatorOptions,
    keys: RootKeyCustody<K> = softwareRootKeys as unknown as RootKeyCustody<K>,
  ): Promise<RootRotator<K>> {
    if (!(options.threshold > 0 && options.threshold < 1)) {
      throw new Error(`the root rotation threshold must be between 0 and 1, not ${options.threshold}`);
    }
    const stored = await store.load();
    const first = stored ? undefined : await keys.firstKey();
    let signer = first?.signer ?? (await keys.signerOf(stored!));
    try {
      let root = stored;
      if (!root) {
        const certificate = await createRootWithSigner(
          signer,
          options.trustDomain,
          new Date((options.now ?? Date.now)()),
          options.rootLifetimeMs,
        );
        root = await saveFirstRoot(store, { ...first!.stored, certificate, bundle: [certificate] });
        if (!parseCertificateDer(root.certificate).spki.equals(spkiOf(signer))) {
          const forStored = await keys.signerOf(root);
          await signer.close?.();
          signer = forStored;
        }
      }
      return new RootRotator(store, options, keys, root, signer);
    } catch (err) {
      // A token signer holds sessions: give them back when the rotator cannot be made.
      await signer.close?.();
      throw err;
    }
  }

  get root(): StoredRoot<K> {
    return this.current;
  }

  /** Signer, signing certificate and roots of the current root, for a CertificateAuthority. */
  get material(): CaKeyMaterial {
    return this.currentMaterial;
  }

  /** Checks the root once (concurrent calls share one check). */
  check(): Promise<RotationOutcome> {
    return this.periodic.run();
  }

  start(): void {
    this.periodic.start(this.options.checkIntervalMs);
  }

  stop(): void {
    this.periodic.stop();
  }

  /** Stops checking and closes every signer this rotator opened (a token's sessions), the current one too. */
  async close(): Promise<void> {
    this.stop();
    await this.periodic.settled();
    await this.closeRetired();
    await this.signer.close?.();
  }

  private async checkOnce(): Promise<RotationOutcome> {
    await this.closeRetired();
    const now = this.now();
    const before = this.current;
    let outcome: RotationOutcome;
    try {
      outcome = await this.update(now);
    } catch (err) {
      if (!(err instanceof RootStoreConflictError)) throw err;
      // Another replica stored a root between our load and our save, which wrote nothing: take theirs up.
      const stored = await this.store.load();
      if (!stored) throw err;
      await this.adopt(stored);
      outcome = 'reloaded';
    }
    if (outcome !== 'unchanged') {
      this.emit('change', this.currentMaterial, outcome);
      await this.destroyKeysOfDroppedRoots(before, now);
    }
    return outcome;
  }

  /** Takes up a stored root, then rotates it when due or drops its expired roots. */
  private async update(now: number): Promise<RotationOutcome> {
    let outcome: RotationOutcome = 'unchanged';
    const stored = await this.store.load();
    if (stored && !sameCertificates(stored, this.current)) {
      await this.adopt(stored);
      outcome = 'reloaded';
    }
    const root = this.current;
    if (remainingLifetimeFraction(root.certificate, now) <= this.options.threshold) {
      await this.rotate(root, now);
      return 'rotated';
    }
    const pruned = pruneTrustBundle(root.bundle, now);
    if (pruned.length !== root.bundle.length) {
      const next = { ...root, bundle: withCurrentFirst(root.certificate, pruned) };
      await this.store.save(next);
      await this.adopt(next, this.signer);
      outcome = 'pruned';
    }
    return outcome;
  }

  /**
   * Destroys the keys of roots that were in `before`'s trust bundle and have expired and left the current one,
   * unless a root still in the bundle carries the same key (a same-key rotation) or the key signs now. Such a
   * key's signer, if still open, is closed first.
   */
  private async destroyKeysOfDroppedRoots(before: RootCertificates, now: number): Promise<void> {
    if (!this.keys.destroyKey) return;
    const inUse = new Set(
      [...this.current.bundle, this.current.certificate].map((der) => spkiHex(parseCertificateDer(der).spki)),
    );
    inUse.add(spkiHex(spkiOf(this.signer)));
    const retired = new Map<string, Buffer>();
    for (const der of before.bundle) {
      if (this.current.bundle.some((kept) => kept.equals(der))) continue;
      const { notAfter, spki } = parseCertificateDer(der);
      if (notAfter.getTime() > now || inUse.has(spkiHex(spki))) continue;
      retired.set(spkiHex(spki), spki);
    }
    for (const [hex, spki] of retired) {
      for (const signer of this.retired.filter((s) => spkiHex(spkiOf(s)) === hex)) {
        this.retired = this.retired.filter((s) => s !== signer);
        await signer.close?.();
      }
      await this.destroyKey(createPublicKey({ key: spki, format: 'der', type: 'spki' }));
    }
  }

  /** Has the custody destroy a key, reporting what went and, without throwing, what could not. */
  private async destroyKey(publicKey: KeyObject): Promise<void> {
    try {
      for (const destroyed of (await this.keys.destroyKey?.(publicKey)) ?? []) {
        this.emit('keyDestroyed', destroyed);
      }
    } catch (err) {
      this.emit('keyDestroyError', err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Signs, stores and adopts the successor of `root`, with the current key or (rotateKey) a new one. A new key
   * whose root the store refused (another replica stored first) is destroyed: nothing stored names it.
   */
  private async rotate(root: StoredRoot<K>, now: number): Promise<void> {
    const fresh = this.options.rotateKey ? await this.keys.newKey(this.signer) : undefined;
    const signer = fresh?.signer ?? this.signer;
    try {
      const certificates = await successorCertificates(root, signer, this.options.trustDomain, now);
      const next: StoredRoot<K> = fresh ? { ...fresh.stored, ...certificates } : { ...root, ...certificates };
      await this.store.save(next);
      await this.adopt(next, signer);
    } catch (err) {
      if (fresh) {
        await fresh.signer.close?.();
        if (err instanceof RootStoreConflictError) await this.destroyKey(fresh.signer.publicKey);
      }
      throw err;
    }
  }

  /** Makes `root` current, signing with `signer` or, by default, the current signer if it holds the root's key. */
  private async adopt(root: StoredRoot<K>, signer?: Signer): Promise<void> {
    let next = signer;
    if (!next) {
      const keyOfRoot = parseCertificateDer(root.certificate).spki;
      next = keyOfRoot.equals(spkiOf(this.signer)) ? this.signer : await this.keys.signerOf(root);
    }
    let material: CaKeyMaterial;
    try {
      material = materialFor(root, next);
    } catch (err) {
      if (next !== this.signer) await next.close?.();
      throw err;
    }
    if (next !== this.signer) this.retired.push(this.signer);
    this.current = root;
    this.signer = next;
    this.currentMaterial = material;
  }

  private async closeRetired(): Promise<void> {
    const retired = this.retired;
    this.retired = [];
    for (const signer of retired) await signer.close?.();
  }
}

/**
 * Saves a first root; when another writer stored one first (RootStoreConflictError), resolves with that one
 * instead, so replicas starting together agree on one root.
 */
async function saveFirstRoot<R extends RootCertificates>(store: RootStore<R>, root: R): Promise<R> {
  try {
    await store.save(root);
    return root;
  } catch (err) {
    if (!(err instanceof RootStoreConflictError)) throw err;
    const stored = await store.load();
    if (!stored) throw err;
    return stored;
  }
}

const spkiHex = (spki: Buffer) => spki.toString('hex');

function sameCertificates(a: RootCertificates, b: RootCertificates): boolean {
  return (
    a.certificate.equals(b.certificate) &&
    a.bundle.length === b.bundle.length &&
    a.bundle.every((der, i) => der.equals(b.bundle[i]))
  );
}

/** CA material for a self-signed root signed by `signer`: it signs, and the whole bundle is trusted. */
function materialFor(root: RootCertificates, signer: Signer): CaKeyMaterial {
  if (!parseCertificateDer(root.certificate).spki.equals(spkiOf(signer))) {
    throw new Error(`the root's key (${signer.description}) does not match its certificate`);
  }
  return {
    signer,
    signingCertificate: root.certificate,
    intermediates: [],
    roots: withCurrentFirst(root.certificate, root.bundle),
  };
}

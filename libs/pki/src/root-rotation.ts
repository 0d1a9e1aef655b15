import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaKeyMaterial } from './authority';
import { certificatesFromPem, parseCertificateDer } from './certificate';
import { derToPem } from './der';
import { ROOT_CERT_FILE, ROOT_KEY_FILE } from './root-ca';
import { SoftwareSigner } from './signer';
import { createRootWithSigner } from './signer-root';

/**
 * A self-signed root whose key is held in this process, and the trust bundle that goes with it: the current
 * root first, then older roots still trusted during a rotation's overlap.
 */
export interface SelfSignedRoot {
  /** PKCS #8 PEM of the root's private key. */
  keyPem: string;
  /** DER of the current root, the one new certificates chain to. */
  certificate: Buffer;
  /** DER roots workloads trust, the current one first. */
  bundle: Buffer[];
}

/** Where a self-signed root is kept between runs: the state folder, or Istio's istio-ca-secret. */
export interface RootStore {
  /** For logs: "folder /var/lib/citadel", "Secret istio-system/istio-ca-secret". */
  readonly description: string;
  /** The stored root, or undefined when none has been stored yet. */
  load(): Promise<SelfSignedRoot | undefined>;
  save(root: SelfSignedRoot): Promise<void>;
}

/** The CA's own roots in the state folder, next to root-cert.pem and root-key.pem. */
export const CA_ROOTS_FILE = 'ca-roots.pem';

/**
 * A root in a folder: root-cert.pem (current root), root-key.pem (its key, owner-only) and ca-roots.pem (every
 * root of this CA still trusted, current first; absent in folders written before rotation existed, meaning just
 * the current root). Each file is replaced atomically.
 */
export class FileRootStore implements RootStore {
  readonly description: string;

  constructor(readonly dir: string) {
    this.description = `folder ${dir}`;
  }

  async load(): Promise<SelfSignedRoot | undefined> {
    const certificatePem = readOptional(join(this.dir, ROOT_CERT_FILE));
    if (certificatePem === undefined) return undefined;
    const keyPem = readFileSync(join(this.dir, ROOT_KEY_FILE), 'utf8');
    const [certificate] = certificatesFromPem(certificatePem);
    if (!certificate) throw new Error(`${join(this.dir, ROOT_CERT_FILE)} holds no certificate`);
    const bundle = certificatesFromPem(readOptional(join(this.dir, CA_ROOTS_FILE)) ?? '');
    return { keyPem, certificate, bundle: withCurrentFirst(certificate, bundle) };
  }

  async save(root: SelfSignedRoot): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    writeAtomically(join(this.dir, ROOT_KEY_FILE), root.keyPem, 0o600);
    writeAtomically(join(this.dir, ROOT_CERT_FILE), derToPem(root.certificate, 'CERTIFICATE'));
    writeAtomically(join(this.dir, CA_ROOTS_FILE), bundlePem(root.bundle));
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

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

/** A fresh self-signed root with a new P-256 key. */
export async function createSoftwareRoot(
  trustDomain: string,
  now: number,
  lifetimeMs = TEN_YEARS_MS,
): Promise<SelfSignedRoot> {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const certificate = await createRootWithSigner(
    new SoftwareSigner(key),
    trustDomain,
    new Date(now),
    lifetimeMs,
  );
  return { keyPem: keyPemOf(key), certificate, bundle: [certificate] };
}

/**
 * The successor of `root`: a new self-signed certificate with the same subject and lifetime, for the same key
 * (the default, as Istio's root rotator does) or for a new one (`rotateKey`). The old root stays in the bundle
 * until it expires, so certificates issued under it keep verifying.
 */
export async function rotateRoot(
  root: SelfSignedRoot,
  options: { trustDomain: string; rotateKey: boolean; now: number },
): Promise<SelfSignedRoot> {
  const old = parseCertificateDer(root.certificate);
  const oldKey = createPrivateKey(root.keyPem);
  const key = options.rotateKey ? newKeyLike(oldKey) : oldKey;
  const lifetimeMs = old.notAfter.getTime() - old.notBefore.getTime();
  const certificate = await createRootWithSigner(
    new SoftwareSigner(key),
    options.trustDomain,
    // createRootWithSigner back-dates by a minute; add it back so the lifetime stays exactly the old one.
    new Date(options.now),
    lifetimeMs - 60_000,
    old.subject,
  );
  return {
    keyPem: keyPemOf(key),
    certificate,
    bundle: pruneTrustBundle([certificate, ...root.bundle], options.now),
  };
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

/**
 * Keeps a self-signed root fresh: loads it from its store (creating and storing one the first time), and on
 * each check rotates it once `threshold` of its lifetime or less is left, drops expired roots from the trust
 * bundle, and takes up a root another replica stored. Emits `change` (material: CaKeyMaterial, outcome) after
 * each change and `error` (Error) when a periodic check fails (it is tried again at the next interval).
 */
export class RootRotator extends EventEmitter {
  private current: SelfSignedRoot;
  private currentMaterial: CaKeyMaterial;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<RotationOutcome> | undefined;
  private readonly now: () => number;

  private constructor(
    readonly store: RootStore,
    readonly options: RootRotatorOptions,
    root: SelfSignedRoot,
  ) {
    super();
    if (!(options.threshold > 0 && options.threshold < 1)) {
      throw new Error(`the root rotation threshold must be between 0 and 1, not ${options.threshold}`);
    }
    this.now = options.now ?? Date.now;
    this.current = root;
    this.currentMaterial = materialOf(root);
  }

  static async open(store: RootStore, options: RootRotatorOptions): Promise<RootRotator> {
    let root = await store.load();
    if (!root) {
      root = await createSoftwareRoot(
        options.trustDomain,
        (options.now ?? Date.now)(),
        options.rootLifetimeMs,
      );
      await store.save(root);
    }
    return new RootRotator(store, options, root);
  }

  get root(): SelfSignedRoot {
    return this.current;
  }

  /** Signer, signing certificate and roots of the current root, for a CertificateAuthority. */
  get material(): CaKeyMaterial {
    return this.currentMaterial;
  }

  /** Checks the root once (concurrent calls share one check). */
  check(): Promise<RotationOutcome> {
    this.checking ??= this.checkOnce().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => {
      this.check().catch((err: unknown) =>
        this.emit('error', err instanceof Error ? err : new Error(String(err))),
      );
    }, this.options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async checkOnce(): Promise<RotationOutcome> {
    const now = this.now();
    let outcome: RotationOutcome = 'unchanged';
    const stored = await this.store.load();
    if (stored && !sameRoot(stored, this.current)) {
      this.adopt(stored);
      outcome = 'reloaded';
    }
    const root = this.current;
    if (remainingLifetimeFraction(root.certificate, now) <= this.options.threshold) {
      const next = await rotateRoot(root, {
        trustDomain: this.options.trustDomain,
        rotateKey: this.options.rotateKey,
        now,
      });
      await this.store.save(next);
      this.adopt(next);
      this.emit('change', this.currentMaterial, 'rotated');
      return 'rotated';
    }
    const pruned = pruneTrustBundle(root.bundle, now);
    if (pruned.length !== root.bundle.length) {
      const next = { ...root, bundle: withCurrentFirst(root.certificate, pruned) };
      await this.store.save(next);
      this.adopt(next);
      outcome = 'pruned';
    }
    if (outcome !== 'unchanged') this.emit('change', this.currentMaterial, outcome);
    return outcome;
  }

  private adopt(root: SelfSignedRoot): void {
    this.current = root;
    this.currentMaterial = materialOf(root);
  }
}

function sameRoot(a: SelfSignedRoot, b: SelfSignedRoot): boolean {
  return (
    a.certificate.equals(b.certificate) &&
    a.keyPem.trim() === b.keyPem.trim() &&
    a.bundle.length === b.bundle.length &&
    a.bundle.every((der, i) => der.equals(b.bundle[i]))
  );
}

/** CA material for a self-signed root: it signs, and the whole bundle is trusted. */
export function materialOf(root: SelfSignedRoot): CaKeyMaterial {
  const signer = SoftwareSigner.fromPem(root.keyPem);
  const spki = createPublicKey(root.keyPem).export({ format: 'der', type: 'spki' });
  if (!parseCertificateDer(root.certificate).spki.equals(spki)) {
    throw new Error("the root's key does not match its certificate");
  }
  return {
    signer,
    signingCertificate: root.certificate,
    intermediates: [],
    roots: withCurrentFirst(root.certificate, root.bundle),
  };
}

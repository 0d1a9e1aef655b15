import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type * as Pkcs11Js from 'pkcs11js';
import { bitString, decodeTlv, oid, seq, unsignedInteger } from './der';
import { signatureSchemeFor } from './signer';
import type { Signer } from './signer';

/** Where a CA key lives on a PKCS #11 token: the module, the token (by label), the key (by label) and the PIN. */
export interface Pkcs11Config {
  /** Path of the PKCS #11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  tokenLabel: string;
  keyLabel: string;
  pin: string;
  /**
   * Which of several key pairs labelled `keyLabel` to use: the one with this public key. After a CA key rotation
   * the token holds the old and the new pair under one label, and the current root's public key names the one
   * that signs. Without it the label must name exactly one key pair.
   */
  publicKey?: KeyObject;
  /**
   * Sessions opened for signing. One session runs one signing operation at a time (a second C_SignInit on a
   * busy session fails with CKR_OPERATION_ACTIVE), so concurrent requests queue for a free session.
   */
  sessions?: number;
}

type Pkcs11Module = typeof Pkcs11Js;

interface LoadedModule {
  lib: Pkcs11Js.PKCS11;
  js: Pkcs11Module;
  users: number;
}

/** One loaded, initialised module per path: C_Initialize/C_Finalize are per process, not per user. */
const modules = new Map<string, LoadedModule>();
/** Modules being loaded: users arriving meanwhile wait for the same load instead of initialising twice. */
const loading = new Map<string, Promise<LoadedModule>>();

async function initialiseModule(path: string): Promise<LoadedModule> {
  // pkcs11js is a native addon: loaded only by processes that use an HSM.
  const imported = (await import('pkcs11js')) as Pkcs11Module & { default?: Pkcs11Module };
  const js = imported.default ?? imported;
  const lib = new js.PKCS11();
  lib.load(path);
  // Signing runs on worker threads: the module must do its own locking (PKCS #11 v2.40 §5.4, CKF_OS_LOCKING_OK).
  lib.C_Initialize({ flags: js.CKF_OS_LOCKING_OK });
  const loaded = { lib, js, users: 0 };
  modules.set(path, loaded);
  return loaded;
}

async function loadModule(path: string): Promise<LoadedModule> {
  let loaded = modules.get(path);
  if (!loaded) {
    let pending = loading.get(path);
    if (!pending) {
      pending = initialiseModule(path).finally(() => loading.delete(path));
      loading.set(path, pending);
    }
    loaded = await pending;
  }
  loaded.users++;
  return loaded;
}

function releaseModule(path: string): void {
  const loaded = modules.get(path);
  if (!loaded || --loaded.users > 0) return;
  modules.delete(path);
  loaded.lib.C_Finalize();
  loaded.lib.close();
}

function findSlot(lib: Pkcs11Js.PKCS11, label: string): Pkcs11Js.Handle {
  const labels: string[] = [];
  for (const slot of lib.C_GetSlotList(true)) {
    const tokenLabel = lib.C_GetTokenInfo(slot).label.trim();
    if (tokenLabel === label) return slot;
    labels.push(tokenLabel);
  }
  throw new Error(
    `no PKCS #11 token labelled ${JSON.stringify(label)} (tokens: ${labels.map((l) => JSON.stringify(l)).join(', ') || 'none'})`,
  );
}

function login(js: Pkcs11Module, lib: Pkcs11Js.PKCS11, session: Pkcs11Js.Handle, pin: string): void {
  try {
    lib.C_Login(session, js.CKU_USER, pin);
  } catch (err) {
    // Login state is per application and token: a second signer on the same token is already logged in.
    if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) throw err;
  }
}

function findObjects(
  js: Pkcs11Module,
  lib: Pkcs11Js.PKCS11,
  session: Pkcs11Js.Handle,
  objectClass: number,
  label: string,
): Pkcs11Js.Handle[] {
  lib.C_FindObjectsInit(session, [
    { type: js.CKA_CLASS, value: objectClass },
    { type: js.CKA_LABEL, value: label },
  ]);
  try {
    const found: Pkcs11Js.Handle[] = [];
    for (
      let batch = lib.C_FindObjects(session, 16);
      batch.length > 0;
      batch = lib.C_FindObjects(session, 16)
    ) {
      found.push(...batch);
    }
    return found;
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** CKA_ID: the identifier that pairs a private key with its public key (PKCS #11 v2.40 §4.7), often empty. */
function idOf(
  js: Pkcs11Module,
  lib: Pkcs11Js.PKCS11,
  session: Pkcs11Js.Handle,
  object: Pkcs11Js.Handle,
): Buffer {
  const [id] = lib.C_GetAttributeValue(session, object, [{ type: js.CKA_ID }]);
  return (id.value as Buffer | undefined) ?? Buffer.alloc(0);
}

/** The public key of an EC public key object, as Node's KeyObject. */
function ecPublicKeyOf(
  js: Pkcs11Module,
  lib: Pkcs11Js.PKCS11,
  session: Pkcs11Js.Handle,
  object: Pkcs11Js.Handle,
): KeyObject {
  const [params, point] = lib.C_GetAttributeValue(session, object, [
    { type: js.CKA_EC_PARAMS },
    { type: js.CKA_EC_POINT },
  ]);
  // CKA_EC_POINT is the DER OCTET STRING of the point (PKCS #11 v2.40 §2.3.3).
  const spki = seq(
    seq(oid(EC_PUBLIC_KEY), params.value as Buffer),
    bitString(decodeTlv(point.value as Buffer).value),
  );
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

interface KeyPair {
  privateKey: Pkcs11Js.Handle;
  publicKey: KeyObject;
  id: Buffer;
}

/**
 * The key pair labelled `config.keyLabel` (and with `config.publicKey`, when given). The private key is the one
 * with the label and the public key's CKA_ID, so several pairs may share a label as long as their ids differ.
 */
function findKeyPair(
  js: Pkcs11Module,
  lib: Pkcs11Js.PKCS11,
  session: Pkcs11Js.Handle,
  config: Pkcs11Config,
): KeyPair {
  const where = `labelled ${JSON.stringify(config.keyLabel)} on token ${JSON.stringify(config.tokenLabel)}`;
  let candidates = findObjects(js, lib, session, js.CKO_PUBLIC_KEY, config.keyLabel).map((handle) => ({
    id: idOf(js, lib, session, handle),
    publicKey: ecPublicKeyOf(js, lib, session, handle),
  }));
  if (config.publicKey) {
    const wanted = config.publicKey;
    candidates = candidates.filter((c) => c.publicKey.equals(wanted));
    if (candidates.length === 0) {
      throw new Error(`no EC key pair ${where} has the public key of the CA certificate`);
    }
  } else if (candidates.length > 1) {
    throw new Error(
      `${candidates.length} EC key pairs are ${where} and no CA certificate names one by its public key yet; give the key to use a label of its own`,
    );
  }
  const [pair] = candidates;
  const privateKeys = pair
    ? findObjects(js, lib, session, js.CKO_PRIVATE_KEY, config.keyLabel).filter((handle) =>
        idOf(js, lib, session, handle).equals(pair.id),
      )
    : [];
  if (!pair || privateKeys.length === 0) throw new Error(`no EC key pair ${where}`);
  if (privateKeys.length > 1) {
    throw new Error(
      `${privateKeys.length} private keys ${where} share the CKA_ID ${pair.id.toString('hex') || '(empty)'}; give each key pair its own id`,
    );
  }
  return { privateKey: privateKeys[0], publicKey: pair.publicKey, id: pair.id };
}

/** For logs: `PKCS#11 token "ca" key "signing" id 0a1b…`. */
function describeKeyPair(config: Pkcs11Config, id: Buffer): string {
  const idText = id.length > 0 ? ` id ${id.toString('hex')}` : '';
  return `PKCS#11 token ${JSON.stringify(config.tokenLabel)} key ${JSON.stringify(config.keyLabel)}${idText}`;
}

/**
 * The RFC 7512 PKCS #11 URI of the private key labelled `keyLabel` with CKA_ID `id` on the token labelled
 * `tokenLabel`: `pkcs11:token=ca;object=signing;id=%0a%1b;type=private`. Labels are UTF-8, percent-encoded where
 * the RFC's pk11-pchar does not allow a character; the id is percent-encoded byte by byte (RFC 7512 §2.3).
 */
export function pkcs11KeyUri(tokenLabel: string, keyLabel: string, id: Buffer): string {
  const attributes = [`token=${encodeURIComponent(tokenLabel)}`, `object=${encodeURIComponent(keyLabel)}`];
  if (id.length > 0)
    attributes.push(`id=${[...id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`);
  attributes.push('type=private');
  return `pkcs11:${attributes.join(';')}`;
}

/** r‖s (PKCS #11 CKM_ECDSA output) → DER ECDSA-Sig-Value, as X.509 signatures carry it. */
function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  return seq(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const CURVE_OIDS: Record<string, string> = { 'P-256': '1.2.840.10045.3.1.7', 'P-384': '1.3.132.0.34' };

/**
 * A CA key on a PKCS #11 token (an HSM, or SoftHSM2 in tests): an EC P-256 or P-384 private key found by label
 * (and, when several pairs share the label, by its public key and CKA_ID), used through CKM_ECDSA over a digest
 * computed here. The private key is never read: only its public half (the public key object of the same label
 * and id) is. Signing runs on pkcs11js's worker threads across a small pool of sessions.
 */
export class Pkcs11Signer implements Signer {
  readonly algorithmIdentifier: Buffer;
  readonly description: string;
  private readonly free: Pkcs11Js.Handle[];
  private readonly waiting: ((session: Pkcs11Js.Handle) => void)[] = [];
  private readonly digest: string;
  private readonly signatureLength: number;
  /** RFC 7512 PKCS #11 URI of the private key: what a stored root may keep to name its key, never the key. */
  readonly uri: string;
  private closed = false;

  private constructor(
    private readonly config: Pkcs11Config,
    private readonly loaded: LoadedModule,
    private readonly sessions: Pkcs11Js.Handle[],
    private readonly key: Pkcs11Js.Handle,
    readonly publicKey: KeyObject,
    keyId: Buffer,
  ) {
    const scheme = signatureSchemeFor(publicKey);
    this.algorithmIdentifier = scheme.algorithmIdentifier;
    this.digest = scheme.digest!;
    this.signatureLength = publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 96 : 64;
    this.free = [...sessions];
    this.description = describeKeyPair(config, keyId);
    this.uri = pkcs11KeyUri(config.tokenLabel, config.keyLabel, keyId);
  }

  static async open(config: Pkcs11Config): Promise<Pkcs11Signer> {
    const loaded = await loadModule(config.module);
    const { lib, js } = loaded;
    const sessions: Pkcs11Js.Handle[] = [];
    try {
      const slot = findSlot(lib, config.tokenLabel);
      const count = Math.max(1, config.sessions ?? 4);
      for (let i = 0; i < count; i++) sessions.push(lib.C_OpenSession(slot, js.CKF_SERIAL_SESSION));
      login(js, lib, sessions[0], config.pin);
      const pair = findKeyPair(js, lib, sessions[0], config);
      return new Pkcs11Signer(config, loaded, sessions, pair.privateKey, pair.publicKey, pair.id);
    } catch (err) {
      for (const s of sessions) lib.C_CloseSession(s);
      releaseModule(config.module);
      throw err;
    }
  }

  async sign(data: Buffer): Promise<Buffer> {
    const digest = createHash(this.digest).update(data).digest();
    const session = await this.acquire();
    try {
      const { lib, js } = this.loaded;
      lib.C_SignInit(session, { mechanism: js.CKM_ECDSA }, this.key);
      const raw = await new Promise<Buffer>((resolve, reject) =>
        lib.C_Sign(session, digest, Buffer.alloc(this.signatureLength), (err, signature) =>
          err ? reject(err) : resolve(signature),
        ),
      );
      return ecdsaRawToDer(raw);
    } finally {
      this.release(session);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Wait for signing in progress to finish before closing its sessions.
    while (this.free.length < this.sessions.length) await new Promise((r) => setTimeout(r, 5));
    for (const s of this.sessions) this.loaded.lib.C_CloseSession(s);
    releaseModule(this.config.module);
  }

  private acquire(): Promise<Pkcs11Js.Handle> {
    if (this.closed) return Promise.reject(new Error(`${this.description} is closed`));
    const session = this.free.pop();
    if (session) return Promise.resolve(session);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(session: Pkcs11Js.Handle): void {
    const next = this.waiting.shift();
    if (next) next(session);
    else this.free.push(session);
  }
}

/**
 * Generates an EC key pair on the token, the private half sensitive and not extractable (it never leaves the
 * token), both labelled `keyLabel` and given one fresh random CKA_ID, so that later pairs under the same label
 * (CA key rotation) are told apart. For setting up an HSM-backed CA, for CA key rotation, and for tests.
 * Returns the new public key, which `Pkcs11Config.publicKey` selects the pair by.
 */
export async function generatePkcs11EcKey(
  config: Pkcs11Config,
  curve: 'P-256' | 'P-384' = 'P-256',
): Promise<KeyObject> {
  const { lib, js } = await loadModule(config.module);
  let session: Pkcs11Js.Handle | undefined;
  try {
    session = lib.C_OpenSession(findSlot(lib, config.tokenLabel), js.CKF_SERIAL_SESSION | js.CKF_RW_SESSION);
    login(js, lib, session, config.pin);
    const label = Buffer.from(config.keyLabel);
    const id = randomBytes(16);
    const { publicKey } = lib.C_GenerateKeyPair(
      session,
      { mechanism: js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: js.CKA_TOKEN, value: true },
        { type: js.CKA_LABEL, value: label },
        { type: js.CKA_ID, value: id },
        { type: js.CKA_VERIFY, value: true },
        { type: js.CKA_EC_PARAMS, value: oid(CURVE_OIDS[curve]) },
      ],
      [
        { type: js.CKA_TOKEN, value: true },
        { type: js.CKA_LABEL, value: label },
        { type: js.CKA_ID, value: id },
        { type: js.CKA_PRIVATE, value: true },
        { type: js.CKA_SENSITIVE, value: true },
        { type: js.CKA_EXTRACTABLE, value: false },
        { type: js.CKA_SIGN, value: true },
      ],
    );
    return ecPublicKeyOf(js, lib, session, publicKey);
  } finally {
    if (session !== undefined) lib.C_CloseSession(session);
    releaseModule(config.module);
  }
}

/** One key pair destroyPkcs11KeyPair removed from the token. */
export interface DestroyedPkcs11KeyPair {
  /** For logs, as a signer for the pair described it: `PKCS#11 token "ca" key "signing" id 0a1b…`. */
  description: string;
  /** How many objects of each class were destroyed (a pair is one of each; a private key already gone is 0). */
  privateKeys: number;
  publicKeys: number;
}

/**
 * Destroys the key pairs labelled `config.keyLabel` on the token whose public key is `publicKey`: each public key
 * object, and the private key with the label and its CKA_ID. For a retired CA key, once no trusted root carries it.
 * Resolves with what was destroyed: nothing when no public key object under the label has that key (already
 * destroyed, for instance by another replica). Throws, destroying nothing, when several private keys share the
 * label and id, since which of them belongs to the public key cannot be told.
 *
 * The private key goes first: should the public key object then fail to go, what remains is a public key.
 */
export async function destroyPkcs11KeyPair(
  config: Pkcs11Config,
  publicKey: KeyObject,
): Promise<DestroyedPkcs11KeyPair[]> {
  const { lib, js } = await loadModule(config.module);
  let session: Pkcs11Js.Handle | undefined;
  try {
    session = lib.C_OpenSession(findSlot(lib, config.tokenLabel), js.CKF_SERIAL_SESSION | js.CKF_RW_SESSION);
    const rw = session;
    login(js, lib, rw, config.pin);
    const publicObjectsById = new Map<string, Pkcs11Js.Handle[]>();
    for (const handle of findObjects(js, lib, rw, js.CKO_PUBLIC_KEY, config.keyLabel)) {
      if (!ecPublicKeyOf(js, lib, rw, handle).equals(publicKey)) continue;
      const id = idOf(js, lib, rw, handle).toString('hex');
      publicObjectsById.set(id, [...(publicObjectsById.get(id) ?? []), handle]);
    }
    const privateKeys = findObjects(js, lib, rw, js.CKO_PRIVATE_KEY, config.keyLabel).map((handle) => ({
      handle,
      id: idOf(js, lib, rw, handle).toString('hex'),
    }));
    const pairs = [...publicObjectsById].map(([id, publicObjects]) => ({
      id: Buffer.from(id, 'hex'),
      publicObjects,
      privateObjects: privateKeys.filter((key) => key.id === id).map((key) => key.handle),
    }));
    for (const pair of pairs) {
      if (pair.privateObjects.length > 1) {
        throw new Error(
          `${pair.privateObjects.length} private keys labelled ${JSON.stringify(config.keyLabel)} on token ${JSON.stringify(config.tokenLabel)} share the CKA_ID ${pair.id.toString('hex') || '(empty)'}: which one belongs to the retired public key cannot be told, so none is destroyed`,
        );
      }
    }
    return pairs.map((pair) => {
      for (const handle of pair.privateObjects) lib.C_DestroyObject(rw, handle);
      for (const handle of pair.publicObjects) lib.C_DestroyObject(rw, handle);
      return {
        description: describeKeyPair(config, pair.id),
        privateKeys: pair.privateObjects.length,
        publicKeys: pair.publicObjects.length,
      };
    });
  } finally {
    if (session !== undefined) lib.C_CloseSession(session);
    releaseModule(config.module);
  }
}

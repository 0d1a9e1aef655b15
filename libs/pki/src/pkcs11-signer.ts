import { createHash, createPublicKey } from 'node:crypto';
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

async function loadModule(path: string): Promise<LoadedModule> {
  let loaded = modules.get(path);
  if (!loaded) {
    // pkcs11js is a native addon: loaded only by processes that use an HSM.
    const imported = (await import('pkcs11js')) as Pkcs11Module & { default?: Pkcs11Module };
    const js = imported.default ?? imported;
    const lib = new js.PKCS11();
    lib.load(path);
    // Signing runs on worker threads: the module must do its own locking (PKCS #11 v2.40 §5.4, CKF_OS_LOCKING_OK).
    lib.C_Initialize({ flags: js.CKF_OS_LOCKING_OK });
    loaded = { lib, js, users: 0 };
    modules.set(path, loaded);
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

function findObject(
  js: Pkcs11Module,
  lib: Pkcs11Js.PKCS11,
  session: Pkcs11Js.Handle,
  objectClass: number,
  label: string,
): Pkcs11Js.Handle | null {
  lib.C_FindObjectsInit(session, [
    { type: js.CKA_CLASS, value: objectClass },
    { type: js.CKA_LABEL, value: label },
  ]);
  try {
    return lib.C_FindObjects(session);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** r‖s (PKCS #11 CKM_ECDSA output) → DER ECDSA-Sig-Value, as X.509 signatures carry it. */
function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  return seq(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const CURVE_OIDS: Record<string, string> = { 'P-256': '1.2.840.10045.3.1.7', 'P-384': '1.3.132.0.34' };

/**
 * A CA key on a PKCS #11 token (an HSM, or SoftHSM2 in tests): an EC P-256 or P-384 private key found by label,
 * used through CKM_ECDSA over a digest computed here. The private key is never read: only its public half (the
 * public key object of the same label) is. Signing runs on pkcs11js's worker threads across a small pool of
 * sessions.
 */
export class Pkcs11Signer implements Signer {
  readonly algorithmIdentifier: Buffer;
  readonly description: string;
  private readonly free: Pkcs11Js.Handle[];
  private readonly waiting: ((session: Pkcs11Js.Handle) => void)[] = [];
  private readonly digest: string;
  private readonly signatureLength: number;
  private closed = false;

  private constructor(
    private readonly config: Pkcs11Config,
    private readonly loaded: LoadedModule,
    private readonly sessions: Pkcs11Js.Handle[],
    private readonly key: Pkcs11Js.Handle,
    readonly publicKey: KeyObject,
  ) {
    const scheme = signatureSchemeFor(publicKey);
    this.algorithmIdentifier = scheme.algorithmIdentifier;
    this.digest = scheme.digest!;
    this.signatureLength = publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 96 : 64;
    this.free = [...sessions];
    this.description = `PKCS#11 token ${JSON.stringify(config.tokenLabel)} key ${JSON.stringify(config.keyLabel)}`;
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
      const key = findObject(js, lib, sessions[0], js.CKO_PRIVATE_KEY, config.keyLabel);
      const pub = findObject(js, lib, sessions[0], js.CKO_PUBLIC_KEY, config.keyLabel);
      if (!key || !pub) {
        throw new Error(
          `no EC key pair labelled ${JSON.stringify(config.keyLabel)} on token ${JSON.stringify(config.tokenLabel)}`,
        );
      }
      const [params, point] = lib.C_GetAttributeValue(sessions[0], pub, [
        { type: js.CKA_EC_PARAMS },
        { type: js.CKA_EC_POINT },
      ]);
      // CKA_EC_POINT is the DER OCTET STRING of the point (PKCS #11 v2.40 §2.3.3).
      const spki = seq(
        seq(oid(EC_PUBLIC_KEY), params.value as Buffer),
        bitString(decodeTlv(point.value as Buffer).value),
      );
      const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
      return new Pkcs11Signer(config, loaded, sessions, key, publicKey);
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
 * token), both labelled `keyLabel`. For setting up an HSM-backed CA, and for tests.
 */
export async function generatePkcs11EcKey(
  config: Pkcs11Config,
  curve: 'P-256' | 'P-384' = 'P-256',
): Promise<void> {
  const { lib, js } = await loadModule(config.module);
  let session: Pkcs11Js.Handle | undefined;
  try {
    session = lib.C_OpenSession(findSlot(lib, config.tokenLabel), js.CKF_SERIAL_SESSION | js.CKF_RW_SESSION);
    login(js, lib, session, config.pin);
    const label = Buffer.from(config.keyLabel);
    lib.C_GenerateKeyPair(
      session,
      { mechanism: js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: js.CKA_TOKEN, value: true },
        { type: js.CKA_LABEL, value: label },
        { type: js.CKA_VERIFY, value: true },
        { type: js.CKA_EC_PARAMS, value: oid(CURVE_OIDS[curve]) },
      ],
      [
        { type: js.CKA_TOKEN, value: true },
        { type: js.CKA_LABEL, value: label },
        { type: js.CKA_PRIVATE, value: true },
        { type: js.CKA_SENSITIVE, value: true },
        { type: js.CKA_EXTRACTABLE, value: false },
        { type: js.CKA_SIGN, value: true },
      ],
    );
  } finally {
    if (session !== undefined) lib.C_CloseSession(session);
    releaseModule(config.module);
  }
}

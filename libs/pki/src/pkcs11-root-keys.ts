import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { parseCertificateDer } from './certificate';
import { Pkcs11Signer, destroyPkcs11KeyPair, generatePkcs11EcKey } from './pkcs11-signer';
import type { Pkcs11Config } from './pkcs11-signer';
import type {
  CustodiedKey,
  RootCertificates,
  RootKeyCustody,
  StoredRoot,
  TokenRootKey,
} from './root-rotation';
import type { Signer } from './signer';

/**
 * Custody of a self-signed root's key on a PKCS #11 token, for RootRotator: what is stored of a root is its
 * certificates and at most a reference to its key (`keyUri`, an RFC 7512 URI naming token, label and CKA_ID),
 * never the key; the key is the pair labelled `keyLabel` on the token whose public key is the root's, so the
 * current root names its key, also across restarts and on every replica sharing the token.
 *
 * - A first root (none stored yet) is made for the one key pair labelled `keyLabel`.
 * - A same-key rotation signs the successor through the signer already open: same key, same session pool.
 * - CA key rotation generates a new EC pair of the same curve on the token, under the same label with a fresh
 *   CKA_ID, sensitive and not extractable; the successor root carries its public key, which selects it from then
 *   on. The old pair stays while a root in the trust bundle carries its key; once every such root has expired and
 *   left the bundle, the rotator has it destroyed (`destroyKey`). A new pair whose root the store refused
 *   because another replica stored its root first is destroyed at once; a crash after the key is generated and
 *   before the root is stored leaves an unused pair on the token and the old root current, and the next check
 *   rotates again.
 */
export class Pkcs11RootKeys implements RootKeyCustody<TokenRootKey> {
  readonly description: string;

  constructor(private readonly config: Pkcs11Config) {
    this.description = `PKCS#11 token ${JSON.stringify(config.tokenLabel)} keys labelled ${JSON.stringify(config.keyLabel)}`;
  }

  async firstKey(): Promise<CustodiedKey<TokenRootKey>> {
    const signer = await Pkcs11Signer.open({ ...this.config, publicKey: undefined });
    return { signer, stored: { keyUri: signer.uri } };
  }

  signerOf(root: StoredRoot<TokenRootKey>): Promise<Signer> {
    return this.open(root);
  }

  async newKey(current: Signer): Promise<CustodiedKey<TokenRootKey>> {
    const curve = current.publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256';
    const publicKey = await generatePkcs11EcKey(this.config, curve);
    const signer = await Pkcs11Signer.open({ ...this.config, publicKey });
    return { signer, stored: { keyUri: signer.uri } };
  }

  async destroyKey(publicKey: KeyObject): Promise<string[]> {
    const destroyed = await destroyPkcs11KeyPair(this.config, publicKey);
    return destroyed.map(
      (pair) =>
        `${pair.description} (${pair.privateKeys > 0 ? 'private and public key' : 'public key; its private key was already gone'})`,
    );
  }

  /** The reference a stored root keeps of its key on this token, for a root stored without one. */
  async referenceOf(root: RootCertificates): Promise<TokenRootKey> {
    const signer = await this.open(root);
    try {
      return { keyUri: signer.uri };
    } finally {
      await signer.close();
    }
  }

  private async open(root: StoredRoot<TokenRootKey>): Promise<Pkcs11Signer> {
    const publicKey = createPublicKey({
      key: parseCertificateDer(root.certificate).spki,
      format: 'der',
      type: 'spki',
    });
    try {
      return await Pkcs11Signer.open({ ...this.config, publicKey });
    } catch (err) {
      if (!root.keyUri) throw err;
      throw new Error(`${(err as Error).message} (the stored root names its key ${root.keyUri})`, {
        cause: err,
      });
    }
  }
}

import { createPublicKey } from 'node:crypto';
import { parseCertificateDer } from './certificate';
import { Pkcs11Signer, generatePkcs11EcKey } from './pkcs11-signer';
import type { Pkcs11Config } from './pkcs11-signer';
import type { CustodiedKey, RootKeyCustody, StoredRoot, TokenRootKey } from './root-rotation';
import type { Signer } from './signer';

/**
 * Custody of a self-signed root's key on a PKCS #11 token, for RootRotator: what is stored of a root is only
 * its certificates (FileRootCertificateStore: root-cert.pem, ca-roots.pem), and its key is the key pair
 * labelled `keyLabel` on the token whose public key is the root's. So the current root names its key, also
 * across restarts, and no key material or key reference is kept beside it.
 *
 * - A first root (no root-cert.pem yet) is made for the one key pair labelled `keyLabel`.
 * - A same-key rotation signs the successor through the signer already open: same key, same session pool.
 * - CA key rotation generates a new EC pair of the same curve on the token, under the same label with a fresh
 *   CKA_ID, sensitive and not extractable; the successor root carries its public key, which selects it from then
 *   on. The old pair stays on the token: its root stays in the trust bundle until it expires, and deleting keys
 *   from an HSM is left to its operator. A crash after the key is generated and before the root is stored
 *   leaves an unused pair on the token and the old root current; the next check rotates again.
 */
export class Pkcs11RootKeys implements RootKeyCustody<TokenRootKey> {
  readonly description: string;

  constructor(private readonly config: Pkcs11Config) {
    this.description = `PKCS#11 token ${JSON.stringify(config.tokenLabel)} keys labelled ${JSON.stringify(config.keyLabel)}`;
  }

  async firstKey(): Promise<CustodiedKey<TokenRootKey>> {
    return { signer: await Pkcs11Signer.open({ ...this.config, publicKey: undefined }), stored: {} };
  }

  signerOf(root: StoredRoot<TokenRootKey>): Promise<Signer> {
    const publicKey = createPublicKey({
      key: parseCertificateDer(root.certificate).spki,
      format: 'der',
      type: 'spki',
    });
    return Pkcs11Signer.open({ ...this.config, publicKey });
  }

  async newKey(current: Signer): Promise<CustodiedKey<TokenRootKey>> {
    const curve = current.publicKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256';
    const publicKey = await generatePkcs11EcKey(this.config, curve);
    return { signer: await Pkcs11Signer.open({ ...this.config, publicKey }), stored: {} };
  }
}

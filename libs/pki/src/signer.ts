import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { NULL, oid, seq } from './der';
import { OID } from './oids';

/**
 * The one interface every kind of key custody implements (a key in a file or Secret, a PKCS #11 token, …):
 * sign bytes with the CA key, and say which AlgorithmIdentifier goes with the signature. Certificates, CRLs
 * and OCSP responses are all signed through it, so the key itself never needs to be in this process.
 */
export interface Signer {
  /** DER AlgorithmIdentifier of the signatures this signer makes (certificate and CRL signatureAlgorithm). */
  readonly algorithmIdentifier: Buffer;
  readonly publicKey: KeyObject;
  /** For logs: "software P-256 key", "PKCS#11 token 'ca' key 'signing'". */
  readonly description: string;
  /** Signs `data` (hashing it as the algorithm says); ECDSA signatures in DER, as X.509 wants them. */
  sign(data: Buffer): Promise<Buffer>;
  /** A synchronous form, when the key is in this process (the fast path uses it to skip a promise). */
  signSync?(data: Buffer): Buffer;
  close?(): Promise<void>;
}

export interface SignatureScheme {
  /** DER AlgorithmIdentifier. */
  algorithmIdentifier: Buffer;
  /** Node's digest name; null for Ed25519. */
  digest: string | null;
}

/** The signature scheme a CA key of this kind signs with: ECDSA with SHA-256 (P-256) or SHA-384 (P-384), RSA PKCS #1 v1.5 with SHA-256, Ed25519. */
export function signatureSchemeFor(publicKey: KeyObject): SignatureScheme {
  const type = publicKey.asymmetricKeyType;
  if (type === 'ec') {
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1')
      return { algorithmIdentifier: seq(oid(OID.ecdsaWithSha256)), digest: 'sha256' };
    if (curve === 'secp384r1')
      return { algorithmIdentifier: seq(oid(OID.ecdsaWithSha384)), digest: 'sha384' };
    throw new Error(`CA keys on curve ${curve} are not supported (P-256, P-384)`);
  }
  if (type === 'rsa') return { algorithmIdentifier: seq(oid(OID.sha256WithRsa), NULL), digest: 'sha256' };
  if (type === 'ed25519') return { algorithmIdentifier: seq(oid(OID.ed25519)), digest: null };
  throw new Error(`CA keys of type ${type} are not supported`);
}

/** A CA key held in this process (loaded from a file or a Kubernetes Secret). */
export class SoftwareSigner implements Signer {
  readonly algorithmIdentifier: Buffer;
  readonly publicKey: KeyObject;
  readonly description: string;
  private readonly digest: string | null;

  constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    const scheme = signatureSchemeFor(this.publicKey);
    this.algorithmIdentifier = scheme.algorithmIdentifier;
    this.digest = scheme.digest;
    const details = this.publicKey.asymmetricKeyDetails;
    this.description =
      `software ${this.publicKey.asymmetricKeyType} ${details?.namedCurve ?? details?.modulusLength ?? ''} key`.trim();
  }

  static fromPem(pem: string): SoftwareSigner {
    return new SoftwareSigner(createPrivateKey(pem));
  }

  signSync(data: Buffer): Buffer {
    return sign(this.digest, data, this.privateKey);
  }

  sign(data: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) =>
      sign(this.digest, data, this.privateKey, (err, signature) => (err ? reject(err) : resolve(signature))),
    );
  }
}

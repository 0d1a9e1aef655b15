import { x509 } from '@flotilla/pki';
import { webcrypto } from 'node:crypto';

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const P256: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SHA256: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface KeyAndCsr {
  /** PKCS #8 PEM. */
  keyPem: string;
  /** PKCS #10 PEM. */
  csrPem: string;
}

/**
 * A fresh ECDSA P-256 key and a CSR for `spiffeId`: empty subject and exactly one URI SAN, marked critical as
 * RFC 5280 asks when the subject is empty (Istio's agent makes the same shape of CSR).
 */
export async function createKeyAndCsr(spiffeId: string): Promise<KeyAndCsr> {
  const keys = (await subtle.generateKey(P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true)],
  });
  const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

import { isIP } from 'node:net';
import { ECDSA_SHA256, generateEcKeyPair, privateKeyToPem, randomSerial, x509 } from './crypto';
import type { RootCa } from './root-ca';

export interface ServingCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

/**
 * A TLS server certificate for a control-plane component, signed by the root: SANs from `names` (IP literals
 * become IP SANs), serverAuth only, empty subject with a critical SAN extension (RFC 5280 §4.2.1.6).
 */
export async function issueServingCertificate(
  root: RootCa,
  names: readonly string[],
  lifetimeMs: number,
  now = new Date(),
): Promise<ServingCertificate> {
  if (names.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP address');
  const keys = await generateEcKeyPair();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    issuer: root.certificate.subject,
    subject: '',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + lifetimeMs),
    publicKey: keys.publicKey,
    signingKey: root.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
        true,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(root.certificate),
    ],
  });
  return {
    certificatePem: certificate.toString('pem'),
    privateKeyPem: await privateKeyToPem(keys.privateKey),
  };
}

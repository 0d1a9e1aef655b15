import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ECDSA_SHA256,
  generateEcKeyPair,
  pemToEcPrivateKey,
  privateKeyToPem,
  randomSerial,
  x509,
} from './crypto';

export interface RootCa {
  certificate: x509.X509Certificate;
  certificatePem: string;
  privateKey: CryptoKey;
  /** Where the root certificate PEM is, when it lives in a folder. */
  certificatePath?: string;
}

export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'root-key.pem';
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

/** A self-signed ECDSA P-256 root CA for the trust domain, valid ten years. */
export async function createSelfSignedRoot(
  trustDomain: string,
  now = new Date(),
): Promise<Omit<RootCa, 'certificatePath'>> {
  const keys = await generateEcKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `O=${trustDomain}, CN=Flotilla Root CA`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + TEN_YEARS_MS),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, certificatePem: certificate.toString('pem'), privateKey: keys.privateKey };
}

/**
 * Loads the root CA kept in `dir` (root-cert.pem, root-key.pem), creating and persisting one when the folder has
 * none. The key file is written owner-only.
 */
export async function loadOrCreateRoot(dir: string, trustDomain: string): Promise<RootCa> {
  const certificatePath = join(dir, ROOT_CERT_FILE);
  const keyPath = join(dir, ROOT_KEY_FILE);
  let certPem: string | undefined;
  try {
    certPem = readFileSync(certificatePath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (certPem !== undefined) {
    const certificate = new x509.X509Certificate(certPem);
    const privateKey = await pemToEcPrivateKey(readFileSync(keyPath, 'utf8'));
    return { certificate, certificatePem: certPem, privateKey, certificatePath };
  }
  const root = await createSelfSignedRoot(trustDomain);
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyPath, await privateKeyToPem(root.privateKey), { mode: 0o600 });
  chmodSync(keyPath, 0o600);
  writeFileSync(certificatePath, root.certificatePem);
  return { ...root, certificatePath };
}

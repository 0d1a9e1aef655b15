import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaKeyMaterial } from './authority';
import { certificatesFromPem } from './certificate';
import { ROOT_KEY_FILE, loadOrCreateRoot } from './root-ca';
import { SoftwareSigner } from './signer';

/** Istio's plugged-in CA layout (the `cacerts` Secret, mounted at /etc/cacerts). */
export const CACERTS_FILES = {
  cert: 'ca-cert.pem',
  key: 'ca-key.pem',
  root: 'root-cert.pem',
  chain: 'cert-chain.pem',
} as const;

export class CaMaterialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaMaterialError';
  }
}

/** Citadel's own self-signed root in its state folder (created on first use), signing with a software key. */
export async function selfSignedMaterial(stateDir: string, trustDomain: string): Promise<CaKeyMaterial> {
  const root = await loadOrCreateRoot(stateDir, trustDomain);
  const der = Buffer.from(root.certificate.rawData);
  return {
    signer: SoftwareSigner.fromPem(readFileSync(join(stateDir, ROOT_KEY_FILE), 'utf8')),
    signingCertificate: der,
    intermediates: [],
    roots: [der],
  };
}

function readPem(dir: string, file: string, optional = false): string {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch (err) {
    if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new CaMaterialError(`cannot read ${join(dir, file)}: ${(err as Error).message}`);
  }
}

/**
 * A plugged-in CA from Istio's cacerts files: ca-cert.pem and ca-key.pem sign; root-cert.pem holds the root(s)
 * workloads trust; cert-chain.pem is the chain from ca-cert.pem up towards the root (it may repeat ca-cert.pem
 * first and the root last, or be empty or absent when ca-cert.pem is the root). Everything is checked before
 * use: the key matches the certificate, the certificate is a CA, and each link's signature verifies up to one
 * of the roots.
 */
export function loadCacerts(dir: string): CaKeyMaterial {
  const certPem = readPem(dir, CACERTS_FILES.cert);
  const keyPem = readPem(dir, CACERTS_FILES.key);
  const rootPem = readPem(dir, CACERTS_FILES.root);
  const chainPem = readPem(dir, CACERTS_FILES.chain, true);

  const [signingDer] = certificatesFromPem(certPem);
  if (!signingDer) throw new CaMaterialError(`${CACERTS_FILES.cert} holds no certificate`);
  const roots = certificatesFromPem(rootPem);
  if (roots.length === 0) throw new CaMaterialError(`${CACERTS_FILES.root} holds no certificate`);
  let signer: SoftwareSigner;
  try {
    signer = new SoftwareSigner(createPrivateKey(keyPem));
  } catch (err) {
    throw new CaMaterialError(`${CACERTS_FILES.key}: ${(err as Error).message}`);
  }
  const signing = new X509Certificate(signingDer);
  if (!signing.ca)
    throw new CaMaterialError(`${CACERTS_FILES.cert} is not a CA certificate (basicConstraints CA:TRUE)`);
  if (!signing.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new CaMaterialError(`${CACERTS_FILES.key} is not the key of ${CACERTS_FILES.cert}`);
  }

  let chain = certificatesFromPem(chainPem);
  if (chain.length > 0 && chain[0].equals(signingDer)) chain = chain.slice(1);
  const isRoot = (der: Buffer) => roots.some((r) => r.equals(der));
  while (chain.length > 0 && isRoot(chain[chain.length - 1])) chain = chain.slice(0, -1);

  // Walk ca-cert → intermediates → a root, checking each signature.
  let child = signing;
  for (const der of chain) {
    const parent = new X509Certificate(der);
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new CaMaterialError(
        `${CACERTS_FILES.chain}: ${child.subject} is not signed by ${parent.subject}`,
      );
    }
    child = parent;
  }
  const rootIndex = isRoot(signingDer)
    ? roots.findIndex((r) => r.equals(signingDer))
    : roots.findIndex((r) => {
        const root = new X509Certificate(r);
        return child.checkIssued(root) && child.verify(root.publicKey);
      });
  if (rootIndex < 0) {
    throw new CaMaterialError(
      `${CACERTS_FILES.cert} does not chain to any certificate in ${CACERTS_FILES.root} (is ${CACERTS_FILES.chain} complete?)`,
    );
  }
  const ordered = [roots[rootIndex], ...roots.filter((_, i) => i !== rootIndex)];
  return { signer, signingCertificate: signingDer, intermediates: chain, roots: ordered };
}

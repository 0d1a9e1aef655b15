// What the root-rotation specs share: the trust domain, two workload identities, time units, the rotator's options
// as citadel's defaults have them (rotate at 20% of the root's life left, keep the key), issuing a leaf for an
// openssl-made CSR, and `openssl verify -x509_strict` of a leaf against a CA file.
import { opensslCsr, opensslResult, writeTemp } from '@flotilla/testing';
import { CertificateAuthority } from '../authority';
import type { CaKeyMaterial, IssuedCertificate } from '../authority';
import { csrPemToDer } from '../csr';
import type { RootRotatorOptions } from '../root-rotation';

export const TD = 'cluster.local';
export const ALICE = `spiffe://${TD}/ns/default/sa/alice`;
export const BOB = `spiffe://${TD}/ns/shop/sa/bob`;
export const HOUR = 3600 * 1000;
export const YEAR = 365 * 24 * HOUR;
export const OPTIONS: RootRotatorOptions = {
  trustDomain: TD,
  threshold: 0.2,
  rotateKey: false,
  checkIntervalMs: 60_000,
};

/** A one-hour leaf for `id`, from an openssl-made CSR, signed with `material`. */
export function issue(
  material: CaKeyMaterial,
  dir: string,
  name: string,
  id: string,
): Promise<IssuedCertificate> {
  const ca = new CertificateAuthority(material, { trustDomain: TD, defaultTtlMs: HOUR, maxTtlMs: HOUR });
  return ca.issueWorkload(csrPemToDer(opensslCsr(dir, name, { uris: [id] })), id, 0);
}

/** `openssl verify -x509_strict -CAfile caFile` of the leaf; its status and output. */
export function verify(dir: string, caFile: string, leaf: IssuedCertificate) {
  const path = writeTemp(dir, `leaf-${leaf.serial}.pem`, leaf.chainPem[0]);
  return opensslResult(['verify', '-x509_strict', '-CAfile', caFile, path]);
}

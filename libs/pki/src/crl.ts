import { keyIdentifierOf } from './certificate';
import type { ParsedCertificate } from './certificate';
import {
  bitString,
  enumerated,
  explicit,
  octetString,
  oid,
  seq,
  smallInteger,
  tlv,
  time,
  unsignedInteger,
} from './der';
import { OID } from './oids';
import { REVOCATION_REASONS } from './revocations';
import type { Revocation } from './revocations';
import type { Signer } from './signer';

export interface CrlOptions {
  thisUpdate: Date;
  nextUpdate: Date;
  /** Monotonically increasing CRL number (RFC 5280 §5.2.3). */
  crlNumber: number;
}

/**
 * A v2 CRL (RFC 5280 §5) issued by the CA's signing certificate and signed through its Signer: one entry per
 * revoked serial with its date and (unless unspecified) its reason code, plus AuthorityKeyIdentifier and
 * CRLNumber.
 */
export async function buildCrl(
  signer: Signer,
  issuer: ParsedCertificate,
  revocations: readonly Revocation[],
  options: CrlOptions,
): Promise<Buffer> {
  const entries = revocations.map((r) => {
    const code = REVOCATION_REASONS[r.reason];
    const parts = [
      unsignedInteger(Buffer.from(r.serial.length % 2 ? `0${r.serial}` : r.serial, 'hex')),
      time(new Date(r.revokedAt)),
    ];
    // RFC 5280 §5.3.1: the reason code unspecified SHOULD be absent.
    if (code !== 0) parts.push(seq(seq(oid(OID.crlReason), octetString(enumerated(code)))));
    return seq(...parts);
  });
  const tbs = seq(
    smallInteger(1), // v2
    signer.algorithmIdentifier,
    issuer.subject,
    time(options.thisUpdate),
    time(options.nextUpdate),
    ...(entries.length > 0 ? [seq(...entries)] : []),
    explicit(
      0,
      seq(
        seq(oid(OID.authorityKeyIdentifier), octetString(seq(tlv(0x80, keyIdentifierOf(issuer))))),
        seq(oid(OID.crlNumber), octetString(smallInteger(options.crlNumber))),
      ),
    ),
  );
  return seq(tbs, signer.algorithmIdentifier, bitString(await signer.sign(tbs)));
}

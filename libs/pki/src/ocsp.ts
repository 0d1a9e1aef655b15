import { createHash } from 'node:crypto';
import type { ParsedCertificate } from './certificate';
import {
  DerError,
  Tag,
  bitString,
  childrenOf,
  decodeOid,
  decodeTlv,
  decodeUnsignedInteger,
  enumerated,
  expectTag,
  explicit,
  generalizedTime,
  octetString,
  oid,
  seq,
  tlv,
} from './der';
import type { Tlv } from './der';
import { OID } from './oids';
import { REVOCATION_REASONS } from './revocations';
import type { Revocation } from './revocations';
import type { Signer } from './signer';

/** RFC 6960 §4.2.1 OCSPResponseStatus values. */
export const OcspStatus = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  unauthorized: 6,
} as const;

export interface OcspCertId {
  /** The CertID exactly as requested: echoed in the response. */
  raw: Buffer;
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lowercase hex, no leading zeros. */
  serial: string;
}

export interface OcspRequest {
  certIds: OcspCertId[];
  /** The nonce extension's extnValue, echoed back (RFC 8954). */
  nonce?: Buffer;
}

const HASHES = new Map<string, string>([
  [OID.sha1, 'sha1'],
  [OID.sha256, 'sha256'],
]);

/** Parses an OCSPRequest (any optional signature is ignored: this responder answers anyone). */
export function parseOcspRequest(der: Buffer): OcspRequest {
  const [tbsRequest] = childrenOf(expectTag(decodeTlv(der), Tag.SEQUENCE, 'OCSPRequest'), 'OCSPRequest');
  if (!tbsRequest) throw new DerError('OCSPRequest: empty');
  const parts = childrenOf(expectTag(tbsRequest, Tag.SEQUENCE, 'TBSRequest'), 'TBSRequest');
  let i = 0;
  if (parts[i]?.tag === 0xa0) i++; // version
  if (parts[i]?.tag === 0xa1) i++; // requestorName
  const list = parts[i++];
  if (!list) throw new DerError('TBSRequest: no requestList');
  const certIds = childrenOf(expectTag(list, Tag.SEQUENCE, 'requestList'), 'requestList').map((request) => {
    const [certId] = childrenOf(expectTag(request, Tag.SEQUENCE, 'Request'), 'Request');
    if (!certId) throw new DerError('Request: no CertID');
    return parseCertId(certId);
  });
  if (certIds.length === 0) throw new DerError('requestList: empty');
  let nonce: Buffer | undefined;
  const extensions = parts[i];
  if (extensions?.tag === 0xa2) {
    const [list] = childrenOf(extensions, 'requestExtensions');
    for (const ext of list ? childrenOf(expectTag(list, Tag.SEQUENCE, 'Extensions'), 'Extensions') : []) {
      const fields = childrenOf(expectTag(ext, Tag.SEQUENCE, 'extension'), 'extension');
      if (fields.length < 2) throw new DerError('extension: too short');
      if (decodeOid(fields[0], 'extension id') === OID.ocspNonce) {
        nonce = expectTag(fields[fields.length - 1], Tag.OCTET_STRING, 'nonce').value;
      }
    }
  }
  return { certIds, nonce };
}

function parseCertId(certId: Tlv): OcspCertId {
  const [alg, nameHash, keyHash, serial] = childrenOf(expectTag(certId, Tag.SEQUENCE, 'CertID'), 'CertID');
  if (!serial) throw new DerError('CertID: too short');
  const [algOid] = childrenOf(expectTag(alg, Tag.SEQUENCE, 'hashAlgorithm'), 'hashAlgorithm');
  if (!algOid) throw new DerError('hashAlgorithm: empty');
  return {
    raw: certId.raw,
    hashAlgorithm: decodeOid(algOid, 'hashAlgorithm'),
    issuerNameHash: expectTag(nameHash, Tag.OCTET_STRING, 'issuerNameHash').value,
    issuerKeyHash: expectTag(keyHash, Tag.OCTET_STRING, 'issuerKeyHash').value,
    serial: decodeUnsignedInteger(serial, 'serialNumber')
      .toString('hex')
      .replace(/^0+(?=.)/, ''),
  };
}

/** An OCSPResponse carrying only an error status (no signature). */
export function ocspErrorResponse(status: Exclude<keyof typeof OcspStatus, 'successful'>): Buffer {
  return seq(enumerated(OcspStatus[status]));
}

export interface OcspResponderOptions {
  now: Date;
  /** How long a response may be cached (nextUpdate − thisUpdate). */
  validityMs: number;
}

/**
 * The responder's answer for each requested certificate: "good" unless the serial is revoked (then "revoked"
 * with its time and reason), and "unknown" when the CertID names another issuer or a hash it does not know.
 * Responses are signed by the CA itself, identified by key hash (RFC 6960 §4.2.2.3), with the signing
 * certificate attached so clients can find the key.
 */
export async function buildOcspResponse(
  signer: Signer,
  issuer: ParsedCertificate,
  request: OcspRequest,
  lookup: (serial: string) => Revocation | undefined,
  options: OcspResponderOptions,
): Promise<Buffer> {
  const thisUpdate = generalizedTime(options.now);
  const nextUpdate = explicit(0, generalizedTime(new Date(options.now.getTime() + options.validityMs)));
  const responses = request.certIds.map((id) => {
    const hash = HASHES.get(id.hashAlgorithm);
    const ours =
      hash !== undefined &&
      createHash(hash).update(issuer.subject).digest().equals(id.issuerNameHash) &&
      createHash(hash).update(issuer.publicKeyBits).digest().equals(id.issuerKeyHash);
    let status: Buffer;
    if (!ours)
      status = tlv(0x82); // unknown [2] IMPLICIT NULL
    else {
      const revoked = lookup(id.serial);
      if (!revoked)
        status = tlv(0x80); // good [0] IMPLICIT NULL
      else {
        const code = REVOCATION_REASONS[revoked.reason];
        status = tlv(
          0xa1,
          generalizedTime(new Date(revoked.revokedAt)),
          ...(code !== 0 ? [explicit(0, enumerated(code))] : []),
        );
      }
    }
    return seq(id.raw, status, thisUpdate, nextUpdate);
  });
  const keyHash = createHash('sha1').update(issuer.publicKeyBits).digest();
  const extensions = request.nonce
    ? [explicit(1, seq(seq(oid(OID.ocspNonce), octetString(request.nonce))))]
    : [];
  const responseData = seq(
    explicit(2, octetString(keyHash)), // responderID byKey
    generalizedTime(options.now),
    seq(...responses),
    ...extensions,
  );
  const basic = seq(
    responseData,
    signer.algorithmIdentifier,
    bitString(await signer.sign(responseData)),
    explicit(0, seq(issuer.der)),
  );
  return seq(enumerated(OcspStatus.successful), explicit(0, seq(oid(OID.ocspBasic), octetString(basic))));
}

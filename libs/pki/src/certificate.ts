import { createHash } from 'node:crypto';
import {
  DerError,
  Tag,
  checkOid,
  childrenOf,
  decodeBitStringBytes,
  decodeContents,
  decodeOid,
  decodeTime,
  decodeTlv,
  decodeUnsignedInteger,
  expectTag,
  pemBlocks,
  sameEncoding,
  sequence,
} from './der';
import type { Tlv } from './der';
import { OID } from './oids';

export interface Extension {
  critical: boolean;
  /** The extnValue OCTET STRING's contents. */
  value: Buffer;
}

/** The parts of an X.509 certificate the CA needs, each as raw DER where it is copied into other structures. */
export interface ParsedCertificate {
  der: Buffer;
  tbs: Buffer;
  /** The serial number's magnitude (no sign byte). */
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** The whole SubjectPublicKeyInfo. */
  spki: Buffer;
  /** The subjectPublicKey BIT STRING's bytes (what RFC 5280 key identifiers and OCSP key hashes are over). */
  publicKeyBits: Buffer;
  extensions: Map<string, Extension>;
}

/**
 * Walks an Extensions SEQUENCE: each entry must be an OID, an optional critical BOOLEAN and an OCTET STRING, and
 * no OID may appear twice. `each` gets the id and the extnValue as TLVs, read in place.
 */
export function forEachExtension(
  list: Tlv,
  what: string,
  each: (id: Tlv, critical: boolean, value: Tlv) => void,
): void {
  const seen: Tlv[] = [];
  for (const ext of sequence(list, what)) {
    const parts = sequence(ext, `${what} entry`, 2, 3);
    const id = parts[0];
    checkOid(id, `${what} id`);
    let critical = false;
    if (parts.length === 3) {
      const flag = expectTag(parts[1], Tag.BOOLEAN, `${what} critical`);
      critical = flag.length === 1 && flag.source[flag.valueStart] !== 0;
    }
    const value = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, `${what} value`);
    for (const other of seen) {
      if (sameEncoding(other, id)) throw new DerError(`${what}: extension ${decodeOid(id)} appears twice`);
    }
    seen.push(id);
    each(id, critical, value);
  }
}

export function parseExtensions(list: Tlv, what: string): Map<string, Extension> {
  const out = new Map<string, Extension>();
  forEachExtension(list, what, (id, critical, value) =>
    out.set(decodeOid(id, `${what} id`), { critical, value: value.value }),
  );
  return out;
}

export function parseCertificateDer(der: Buffer): ParsedCertificate {
  const [tbsTlv] = sequence(decodeTlv(der, Tag.SEQUENCE, 'certificate'), 'certificate', 3, 3);
  const tbs = sequence(tbsTlv, 'tbsCertificate', 6, 10);
  let i = 0;
  if (tbs[0].tag === 0xa0) i++; // version
  const serial = decodeUnsignedInteger(tbs[i++], 'serial');
  i++; // signature algorithm
  const issuer = expectTag(tbs[i++], Tag.SEQUENCE, 'issuer').raw;
  const [nb, na] = sequence(tbs[i++], 'validity', 2, 2);
  const subject = expectTag(tbs[i++], Tag.SEQUENCE, 'subject').raw;
  const spkiTlv = tbs[i++];
  const [, keyBits] = sequence(spkiTlv, 'subjectPublicKeyInfo', 2, 2);
  let extensions = new Map<string, Extension>();
  for (; i < tbs.length; i++) {
    if (tbs[i].tag === 0xa3) {
      extensions = parseExtensions(childrenOf(tbs[i], 'extensions')[0], 'extensions');
    }
  }
  return {
    der,
    tbs: tbsTlv.raw,
    serial,
    issuer,
    subject,
    notBefore: decodeTime(nb, 'notBefore'),
    notAfter: decodeTime(na, 'notAfter'),
    spki: spkiTlv.raw,
    publicKeyBits: decodeBitStringBytes(keyBits, 'subjectPublicKey'),
    extensions,
  };
}

/** The certificates in a PEM text, in order. */
export function certificatesFromPem(pem: string): Buffer[] {
  return pemBlocks(pem, 'CERTIFICATE');
}

/**
 * The key identifier a certificate's issuer should be named by: its SubjectKeyIdentifier extension when it has
 * one, else the SHA-1 of its public key bits (RFC 5280 §4.2.1.2, method 1).
 */
export function keyIdentifierOf(cert: ParsedCertificate): Buffer {
  const ski = cert.extensions.get(OID.subjectKeyIdentifier);
  if (ski) return expectTag(decodeTlv(ski.value), Tag.OCTET_STRING, 'subjectKeyIdentifier').value;
  return createHash('sha1').update(cert.publicKeyBits).digest();
}

/** GeneralName entries of a SubjectAltName extension value, by kind. */
export interface SubjectAltNames {
  uris: string[];
  dns: string[];
  ips: Buffer[];
  others: number;
}

export function parseSubjectAltNames(value: Buffer): SubjectAltNames {
  return subjectAltNamesIn(decodeTlv(value, Tag.SEQUENCE, 'subjectAltName'));
}

/** The names in a SubjectAltName extension's extnValue (the OCTET STRING TLV), read in place. */
export function subjectAltNamesOfExtension(extnValue: Tlv): SubjectAltNames {
  return subjectAltNamesIn(decodeContents(extnValue, Tag.SEQUENCE, 'subjectAltName'));
}

function subjectAltNamesIn(names: Tlv): SubjectAltNames {
  const out: SubjectAltNames = { uris: [], dns: [], ips: [], others: 0 };
  for (const name of sequence(names, 'subjectAltName')) {
    if (name.tag === 0x86) out.uris.push(name.source.toString('latin1', name.valueStart, name.end));
    else if (name.tag === 0x82) out.dns.push(name.source.toString('latin1', name.valueStart, name.end));
    else if (name.tag === 0x87) out.ips.push(Buffer.from(name.value));
    else out.others++;
  }
  return out;
}

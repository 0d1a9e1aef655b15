import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CaError } from './ca-error';
import { forEachExtension, subjectAltNamesOfExtension } from './certificate';
import type { SubjectAltNames } from './certificate';
import {
  DerError,
  Tag,
  bitStringBytesStart,
  checkOid,
  childrenOf,
  decodeBitStringBytes,
  decodeOid,
  decodeSmallInteger,
  decodeTlv,
  expectTag,
  isOid,
  oid,
  pemBlocks,
  sequence,
} from './der';
import type { Tlv } from './der';
import { OID } from './oids';
import { parseWorkloadSpiffeId } from './spiffe';

/** A PKCS #10 request whose signature has been verified with the key it carries. */
export interface VerifiedCsr {
  /** The SubjectPublicKeyInfo, raw DER, copied as is into the certificate. */
  spki: Buffer;
  publicKey: KeyObject;
  subjectAltNames: SubjectAltNames;
}

const MAX_CSR_BYTES = 64 * 1024;

interface CsrSignature {
  name: string;
  /** The algorithm's OID, encoded, so a CSR's is recognised by comparing bytes in place. */
  oid: Buffer;
  /** Node's digest name (null: none, for Ed25519). */
  digest: string | null;
  /** The key type the algorithm signs with. */
  keyType: 'ec' | 'rsa' | 'ed25519';
}

/** Signature algorithms a CSR may be signed with. */
const CSR_SIGNATURES: readonly CsrSignature[] = (
  [
    [OID.ecdsaWithSha256, 'sha256', 'ec'],
    [OID.ecdsaWithSha384, 'sha384', 'ec'],
    [OID.ecdsaWithSha512, 'sha512', 'ec'],
    [OID.sha256WithRsa, 'sha256', 'rsa'],
    [OID.sha384WithRsa, 'sha384', 'rsa'],
    [OID.sha512WithRsa, 'sha512', 'rsa'],
    [OID.ed25519, null, 'ed25519'],
  ] as const
).map(([name, digest, keyType]) => ({ name, oid: oid(name), digest, keyType }));

const invalid = (message: string, cause?: unknown) => new CaError('invalid-request', message, { cause });

const EC_CURVES = [
  { oid: oid('1.2.840.10045.3.1.7'), crv: 'P-256', size: 32 },
  { oid: oid('1.3.132.0.34'), crv: 'P-384', size: 48 },
];
const ID_EC_PUBLIC_KEY = oid('1.2.840.10045.2.1');
const EXTENSION_REQUEST = oid(OID.extensionRequest);
const SUBJECT_ALT_NAME = oid(OID.subjectAltName);

/**
 * The CSR's public key (its SubjectPublicKeyInfo, already checked to be a SEQUENCE of two). For uncompressed
 * P-256/P-384 points it is imported as JWK, which OpenSSL does about a third faster than decoding SPKI DER (it
 * still checks the point is on the curve); the curve is then known without asking OpenSSL. Other keys go
 * through the DER decoder and `checkKey`.
 */
function importKey(spki: Tlv, [alg, bits]: Tlv[]): KeyObject {
  try {
    const [algOid, params] = sequence(alg, 'algorithm', 1, 2);
    checkOid(algOid);
    if (isOid(algOid, ID_EC_PUBLIC_KEY) && params?.tag === Tag.OID) {
      checkOid(params);
      const curve = EC_CURVES.find((c) => isOid(params, c.oid));
      const point = bitStringBytesStart(bits);
      const src = bits.source;
      if (curve && bits.end - point === 1 + 2 * curve.size && src[point] === 0x04) {
        const x = point + 1;
        const y = x + curve.size;
        return createPublicKey({
          key: {
            kty: 'EC',
            crv: curve.crv,
            x: src.toString('base64url', x, y),
            y: src.toString('base64url', y, bits.end),
          },
          format: 'jwk',
        });
      }
    }
  } catch (err) {
    if (err instanceof DerError) throw invalid(`CSR public key: ${err.message}`, err);
    throw invalid(`CSR public key does not parse: ${(err as Error).message}`, err);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
  } catch (err) {
    throw invalid(`CSR public key does not parse: ${(err as Error).message}`, err);
  }
  checkKey(key);
  return key;
}

/** Keys a workload certificate may carry: EC P-256/P-384, RSA 2048–8192 bits, Ed25519. */
function checkKey(key: KeyObject): void {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details.namedCurve !== 'prime256v1' && details.namedCurve !== 'secp384r1') {
        throw invalid(`CSR key: EC curve ${details.namedCurve} is not accepted (use P-256 or P-384)`);
      }
      return;
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      if (bits < 2048 || bits > 8192)
        throw invalid(`CSR key: a ${bits}-bit RSA key is not accepted (2048–8192)`);
      return;
    }
    case 'ed25519':
      return;
    default:
      throw invalid(`CSR key: ${key.asymmetricKeyType} keys are not accepted`);
  }
}

/** The DER of a CSR given as PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"). */
export function csrPemToDer(pem: string): Buffer {
  if (pem.length > MAX_CSR_BYTES * 2) throw invalid('CSR is too large');
  const blocks = pemBlocks(pem, 'CERTIFICATE REQUEST');
  const legacy = pemBlocks(pem, 'NEW CERTIFICATE REQUEST');
  if (blocks.length + legacy.length !== 1) {
    throw invalid(
      blocks.length + legacy.length === 0
        ? 'no PEM CERTIFICATE REQUEST block in csr'
        : 'more than one CSR in csr',
    );
  }
  return blocks[0] ?? legacy[0];
}

/**
 * Parses a DER PKCS #10 request and verifies its self-signature natively: the CertificationRequestInfo bytes
 * are checked against the signature with the public key they contain. Any malformed input becomes an
 * 'invalid-request' CaError. The request is read in place (offsets into `der`, OIDs compared as bytes): this
 * runs for every certificate citadel issues.
 */
export function verifyCsr(der: Buffer): VerifiedCsr {
  if (der.length > MAX_CSR_BYTES) throw invalid('CSR is too large');
  let info: Buffer, spki: Tlv, spkiParts: Tlv[], algOid: Tlv, signature: Buffer;
  let attributes: Tlv | undefined;
  try {
    const [infoTlv, algTlv, sigTlv] = sequence(decodeTlv(der, Tag.SEQUENCE, 'CSR'), 'CSR', 3, 3);
    const parts = sequence(infoTlv, 'CertificationRequestInfo', 3, 4);
    if (decodeSmallInteger(parts[0], 'CSR version') !== 0) throw new DerError('CSR version must be 1 (0)');
    expectTag(parts[1], Tag.SEQUENCE, 'CSR subject');
    spkiParts = sequence(parts[2], 'CSR subjectPublicKeyInfo', 2, 2);
    if (parts[3]) attributes = expectTag(parts[3], 0xa0, 'CSR attributes');
    info = infoTlv.raw;
    spki = parts[2];
    [algOid] = sequence(algTlv, 'CSR signature algorithm', 1, 2);
    checkOid(algOid, 'CSR signature algorithm');
    signature = decodeBitStringBytes(sigTlv, 'CSR signature');
  } catch (err) {
    if (err instanceof DerError) throw invalid(`malformed CSR: ${err.message}`, err);
    throw err;
  }
  const algorithm = CSR_SIGNATURES.find((a) => isOid(algOid, a.oid));
  if (!algorithm) throw invalid(`CSR signature algorithm ${decodeOid(algOid)} is not accepted`);
  const publicKey = importKey(spki, spkiParts);
  if (publicKey.asymmetricKeyType !== algorithm.keyType) {
    throw invalid(
      `CSR signature algorithm ${algorithm.name} does not fit its ${publicKey.asymmetricKeyType} key`,
    );
  }
  let ok: boolean;
  try {
    ok = verify(algorithm.digest, info, publicKey, signature);
  } catch (err) {
    throw invalid(`CSR signature does not verify: ${(err as Error).message}`, err);
  }
  if (!ok) throw invalid('CSR signature does not verify with the key it carries');
  return { spki: spki.raw, publicKey, subjectAltNames: requestedAltNames(attributes) };
}

/** The SubjectAltName in the CSR's extensionRequest attribute (none → every list empty). */
function requestedAltNames(attributes: Tlv | undefined): SubjectAltNames {
  const none: SubjectAltNames = { uris: [], dns: [], ips: [], others: 0 };
  if (!attributes) return none;
  try {
    for (const attribute of childrenOf(attributes, 'CSR attributes')) {
      const [type, values] = sequence(attribute, 'CSR attribute', 2, 2);
      if (!isOid(type, EXTENSION_REQUEST)) {
        checkOid(type, 'CSR attribute type');
        continue;
      }
      const [extensions] = childrenOf(expectTag(values, Tag.SET, 'extensionRequest'), 'extensionRequest');
      if (!extensions) throw new DerError('extensionRequest: empty');
      let san: Tlv | undefined;
      forEachExtension(extensions, 'requested extensions', (id, _critical, value) => {
        if (isOid(id, SUBJECT_ALT_NAME)) san = value;
      });
      return san ? subjectAltNamesOfExtension(san) : none;
    }
  } catch (err) {
    if (err instanceof DerError) throw invalid(`malformed CSR attributes: ${err.message}`, err);
    throw err;
  }
  return none;
}

/**
 * A workload's CSR as any issuer of this CA must check it: signature and structure (verifyCsr), exactly one URI SAN,
 * that SAN equal to the caller's authenticated SPIFFE ID, and the ID in `trustDomain`.
 */
export function verifyWorkloadCsr(der: Buffer, callerId: string, trustDomain: string): VerifiedCsr {
  const csr = verifyCsr(der);
  const { uris } = csr.subjectAltNames;
  if (uris.length !== 1) {
    throw new CaError(
      'invalid-request',
      `the CSR must carry exactly one URI SAN (the SPIFFE ID ${callerId}); it has ${uris.length}`,
    );
  }
  if (uris[0] !== callerId) {
    throw new CaError(
      'permission-denied',
      `the CSR asks for ${uris[0]} but the caller is authenticated as ${callerId}`,
    );
  }
  if (parseWorkloadSpiffeId(callerId).trustDomain !== trustDomain) {
    throw new CaError('permission-denied', `${callerId} is not in this CA's trust domain ${trustDomain}`);
  }
  return csr;
}

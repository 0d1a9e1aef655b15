import { createPublicKey, randomFillSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { CaError } from './ca-error';
import { keyIdentifierOf, parseCertificateDer } from './certificate';
import type { ParsedCertificate } from './certificate';
import { verifyWorkloadCsr } from './csr';
import {
  TRUE,
  Tag,
  bitString,
  derToPem,
  explicit,
  octetString,
  oid,
  seq,
  timeSize,
  tlv,
  tlvSize,
  writeHeader,
  writeTime,
} from './der';
import { OID } from './oids';
import type { Signer } from './signer';

/** What a CA signs with and chains to. */
export interface CaKeyMaterial {
  signer: Signer;
  /** DER certificate of the signing key: the root itself when self-signed, else an intermediate. */
  signingCertificate: Buffer;
  /** DER certificates between the signing certificate and the root, nearest first (neither end included). */
  intermediates: Buffer[];
  /** DER roots the mesh trusts; the first is the one the signing certificate chains to. */
  roots: Buffer[];
}

export interface AuthorityOptions {
  trustDomain: string;
  /** Lifetime of a workload certificate when the request asks for none. */
  defaultTtlMs: number;
  /** Longest lifetime a request may ask for. */
  maxTtlMs: number;
  /** How far back notBefore is set, for clocks running behind (Istio uses 2 minutes). */
  clockSkewMs?: number;
  /** Written into workload certificates' AuthorityInfoAccess when given. */
  ocspUrl?: string;
  /** Written into workload certificates' CRLDistributionPoints when given. */
  crlUrl?: string;
  now?: () => number;
}

export interface IssuedCertificate {
  der: Buffer;
  /** Lowercase hex of the serial number. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** PEM certificates, the new leaf first and the root last: IstioCertificateResponse.cert_chain. */
  chainPem: string[];
}

const DEFAULT_CLOCK_SKEW_MS = 2 * 60 * 1000;
const EMPTY_NAME = Buffer.from([0x30, 0x00]);
const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
/** The start of the SubjectAltName extension up to its extnValue: id and critical. */
const SAN_ID_CRITICAL = Buffer.concat([oid(OID.subjectAltName), TRUE]);

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), TRUE, octetString(value)) : seq(oid(id), octetString(value));
}

const SERIAL_BYTES = 16;
/**
 * Serial randomness, drawn for 256 serials at a time: one OpenSSL call, and one native object left for the
 * garbage collector to free, per 256 certificates instead of per certificate.
 */
const serialPool = Buffer.alloc(256 * SERIAL_BYTES);
let serialPoolUsed = serialPool.length;

/**
 * Writes a random positive 16-byte serial (126 random bits; RFC 5280 allows up to 20 octets) as an INTEGER at
 * `offset`; returns the offset after it. The first byte is 0x40–0x7f, so the INTEGER needs no sign byte.
 */
function writeSerial(out: Buffer, offset: number): number {
  if (serialPoolUsed === serialPool.length) {
    randomFillSync(serialPool);
    serialPoolUsed = 0;
  }
  offset = writeHeader(out, offset, Tag.INTEGER, SERIAL_BYTES);
  serialPool.copy(out, offset, serialPoolUsed, serialPoolUsed + SERIAL_BYTES);
  serialPoolUsed += SERIAL_BYTES;
  out[offset] = (out[offset] & 0x3f) | 0x40;
  return offset + SERIAL_BYTES;
}

const copyInto = (out: Buffer, offset: number, bytes: Buffer) => offset + bytes.copy(out, offset);

interface PreparedCertificate {
  tbs: Buffer;
  /** Where the serial's 16 bytes are in `tbs`. */
  serialAt: number;
  notBefore: Date;
  notAfter: Date;
}

function formatTtl(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  return `${s}s`;
}

type Profile = 'workload' | 'server';

/**
 * The certificate authority: issues SPIFFE X.509-SVIDs from CSRs, and TLS serving certificates. Leaf
 * certificates are built from DER pre-encoded once per CA (version, algorithm, issuer, the fixed extensions),
 * so each issue only encodes the serial, validity, key and SAN, and signs natively.
 */
export class CertificateAuthority {
  readonly signingCertificate: ParsedCertificate;
  readonly roots: ParsedCertificate[];
  readonly trustDomain: string;
  /** PEM of everything after the leaf in a chain: signing certificate (unless it is the root), intermediates, root. */
  readonly chainTailPem: string[];
  private readonly fixedExtensions: Record<Profile, Buffer>;
  private readonly clockSkewMs: number;
  private readonly now: () => number;

  constructor(
    readonly material: CaKeyMaterial,
    readonly options: AuthorityOptions,
  ) {
    this.signingCertificate = parseCertificateDer(material.signingCertificate);
    this.roots = material.roots.map(parseCertificateDer);
    if (this.roots.length === 0) throw new Error('a CA needs at least one root');
    this.trustDomain = options.trustDomain;
    this.clockSkewMs = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    this.now = options.now ?? Date.now;
    const signerKey = material.signer.publicKey.export({ format: 'der', type: 'spki' });
    if (!signerKey.equals(this.signingCertificate.spki)) {
      throw new Error("the CA key does not match the signing certificate's public key");
    }
    const root = material.roots[0];
    const tail = material.signingCertificate.equals(root)
      ? [root]
      : [material.signingCertificate, ...material.intermediates, root];
    this.chainTailPem = tail.map((der) => derToPem(der, 'CERTIFICATE'));

    const common = [
      extension(OID.basicConstraints, true, seq()),
      extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyIdentifierOf(this.signingCertificate)))),
    ];
    if (options.ocspUrl) {
      common.push(
        extension(
          OID.authorityInfoAccess,
          false,
          seq(seq(oid(OID.accessOcsp), tlv(0x86, Buffer.from(options.ocspUrl, 'latin1')))),
        ),
      );
    }
    if (options.crlUrl) {
      common.push(
        extension(
          OID.crlDistributionPoints,
          false,
          seq(seq(explicit(0, explicit(0, tlv(0x86, Buffer.from(options.crlUrl, 'latin1')))))),
        ),
      );
    }
    // keyUsage digitalSignature (bit 0) + keyEncipherment (bit 2): 0b101xxxxx, 5 unused bits.
    const keyUsage = extension(OID.keyUsage, true, bitString(Buffer.from([0xa0]), 5));
    this.fixedExtensions = {
      workload: Buffer.concat([
        keyUsage,
        extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
        ...common,
      ]),
      server: Buffer.concat([
        keyUsage,
        extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
        ...common,
      ]),
    };
  }

  /** The roots, PEM, for a trust bundle. */
  get rootsPem(): string[] {
    return this.material.roots.map((der) => derToPem(der, 'CERTIFICATE'));
  }

  /** The requested lifetime in seconds (0: the default) checked against the maximum. */
  ttlMsFor(requestedSeconds: number): number {
    if (!Number.isFinite(requestedSeconds) || requestedSeconds < 0) {
      throw new CaError('invalid-request', `requested TTL ${requestedSeconds}s is not a non-negative number`);
    }
    if (requestedSeconds === 0) return this.options.defaultTtlMs;
    const ms = requestedSeconds * 1000;
    if (ms > this.options.maxTtlMs) {
      throw new CaError(
        'invalid-request',
        `requested TTL ${formatTtl(ms)} is greater than the maximum allowed TTL ${formatTtl(this.options.maxTtlMs)}`,
      );
    }
    return ms;
  }

  /**
   * Issues a workload certificate for `callerId` (a SPIFFE ID the caller proved) from a DER CSR: the CSR's
   * signature must verify and its one URI SAN must be `callerId`, else an 'invalid-request' or
   * 'permission-denied' CaError says why.
   */
  async issueWorkload(csrDer: Buffer, callerId: string, ttlSeconds: number): Promise<IssuedCertificate> {
    const prepared = this.prepareWorkload(csrDer, callerId, ttlSeconds);
    const signature = await this.material.signer.sign(prepared.tbs);
    return this.finish(prepared, signature);
  }

  /** issueWorkload without a promise, for signers holding the key in this process (benchmarks, tools). */
  issueWorkloadSync(csrDer: Buffer, callerId: string, ttlSeconds: number): IssuedCertificate {
    const signSync = this.material.signer.signSync;
    if (!signSync) throw new Error(`${this.material.signer.description} cannot sign synchronously`);
    const prepared = this.prepareWorkload(csrDer, callerId, ttlSeconds);
    return this.finish(prepared, signSync.call(this.material.signer, prepared.tbs));
  }

  /** A TLS server certificate (serverAuth) for DNS names and IP addresses, for citadel's own port. */
  async issueServing(
    publicKey: KeyObject,
    names: readonly string[],
    lifetimeMs: number,
  ): Promise<IssuedCertificate> {
    if (names.length === 0)
      throw new Error('a serving certificate needs at least one DNS name or IP address');
    const generalNames = names.map((n) =>
      isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'latin1')),
    );
    const spki = (publicKey.type === 'public' ? publicKey : createPublicKey(publicKey)).export({
      format: 'der',
      type: 'spki',
    });
    const prepared = this.prepare(spki, Buffer.concat(generalNames), lifetimeMs, 'server');
    return this.finish(prepared, await this.material.signer.sign(prepared.tbs));
  }

  private prepareWorkload(csrDer: Buffer, callerId: string, ttlSeconds: number): PreparedCertificate {
    const ttlMs = this.ttlMsFor(ttlSeconds);
    const csr = verifyWorkloadCsr(csrDer, callerId, this.trustDomain);
    return this.prepare(csr.spki, callerId, ttlMs, 'workload');
  }

  /**
   * The TBSCertificate, written in one pass into one buffer: the pre-encoded parts are copied and only the
   * serial, validity, key and SAN are encoded. `names` is the contents of the SAN's GeneralNames, or a string
   * for a single URI (a workload's SPIFFE ID, which verifyWorkloadCsr has checked is ASCII).
   */
  private prepare(
    spki: Buffer,
    names: Buffer | string,
    ttlMs: number,
    profile: Profile,
  ): PreparedCertificate {
    const now = this.now();
    const notBefore = new Date(Math.floor((now - this.clockSkewMs) / 1000) * 1000);
    const notAfter = new Date(
      Math.min(Math.floor((now + ttlMs) / 1000) * 1000, this.signingCertificate.notAfter.getTime()),
    );
    const algorithm = this.material.signer.algorithmIdentifier;
    const issuer = this.signingCertificate.subject;
    const fixedExtensions = this.fixedExtensions[profile];
    const namesLength = typeof names === 'string' ? tlvSize(names.length) : names.length;
    const sanValueLength = tlvSize(namesLength);
    const sanLength = SAN_ID_CRITICAL.length + tlvSize(sanValueLength);
    const extensionsLength = fixedExtensions.length + tlvSize(sanLength);
    const validityLength = timeSize(notBefore) + timeSize(notAfter);
    const tbsLength =
      VERSION_3.length +
      tlvSize(SERIAL_BYTES) +
      algorithm.length +
      issuer.length +
      tlvSize(validityLength) +
      EMPTY_NAME.length +
      spki.length +
      tlvSize(tlvSize(extensionsLength));

    const tbs = Buffer.allocUnsafe(tlvSize(tbsLength));
    let o = writeHeader(tbs, 0, Tag.SEQUENCE, tbsLength);
    o = copyInto(tbs, o, VERSION_3);
    const serialAt = o + 2;
    o = writeSerial(tbs, o);
    o = copyInto(tbs, o, algorithm);
    o = copyInto(tbs, o, issuer);
    o = writeHeader(tbs, o, Tag.SEQUENCE, validityLength);
    o = writeTime(tbs, o, notBefore);
    o = writeTime(tbs, o, notAfter);
    o = copyInto(tbs, o, EMPTY_NAME);
    o = copyInto(tbs, o, spki);
    o = writeHeader(tbs, o, 0xa3, tlvSize(extensionsLength)); // extensions [3] EXPLICIT
    o = writeHeader(tbs, o, Tag.SEQUENCE, extensionsLength);
    o = copyInto(tbs, o, fixedExtensions);
    // An empty subject makes the SAN the only name, so it must be critical (RFC 5280 §4.2.1.6).
    o = writeHeader(tbs, o, Tag.SEQUENCE, sanLength);
    o = copyInto(tbs, o, SAN_ID_CRITICAL);
    o = writeHeader(tbs, o, Tag.OCTET_STRING, sanValueLength);
    o = writeHeader(tbs, o, Tag.SEQUENCE, namesLength);
    if (typeof names === 'string') {
      o = writeHeader(tbs, o, 0x86, names.length); // uniformResourceIdentifier [6]
      o += tbs.write(names, o, 'latin1');
    } else {
      o = copyInto(tbs, o, names);
    }
    if (o !== tbs.length) throw new Error(`wrote ${o} bytes of a ${tbs.length}-byte TBSCertificate`);
    return { tbs, serialAt, notBefore, notAfter };
  }

  /** The certificate (TBS, algorithm, signature) in one buffer, and its PEM chain. */
  private finish(prepared: PreparedCertificate, signature: Buffer): IssuedCertificate {
    const { tbs, serialAt } = prepared;
    const algorithm = this.material.signer.algorithmIdentifier;
    const length = tbs.length + algorithm.length + tlvSize(1 + signature.length);
    const der = Buffer.allocUnsafe(tlvSize(length));
    let o = writeHeader(der, 0, Tag.SEQUENCE, length);
    o = copyInto(der, o, tbs);
    o = copyInto(der, o, algorithm);
    o = writeHeader(der, o, Tag.BIT_STRING, 1 + signature.length);
    der[o++] = 0; // no unused bits
    signature.copy(der, o);
    return {
      der,
      serial: tbs.toString('hex', serialAt, serialAt + SERIAL_BYTES),
      notBefore: prepared.notBefore,
      notAfter: prepared.notAfter,
      chainPem: [derToPem(der, 'CERTIFICATE'), ...this.chainTailPem],
    };
  }
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/**
 * A small, strict DER reader and writer: just what the fast issuance path, CSR checks, CRLs and OCSP need. The
 * reader refuses anything that is not DER (indefinite or non-minimal lengths, multi-byte tags, values running
 * past their parent) with a DerError, so untrusted input can never make it read out of bounds or loop.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** A context-specific tag: `[n]`, constructed (EXPLICIT or constructed IMPLICIT) or primitive. */
export function contextTag(n: number, constructed: boolean): number {
  if (n < 0 || n > 30) throw new RangeError(`context tag [${n}] is out of range`);
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** One decoded tag-length-value. `raw` is the whole encoding, `value` its contents; both share `source`. */
export interface Tlv {
  tag: number;
  raw: Buffer;
  value: Buffer;
}

/** Decodes the TLV at `offset` of `buf`, which must fit before `end`. */
export function decodeTlvAt(buf: Buffer, offset: number, end = buf.length): Tlv {
  if (offset + 2 > end) throw new DerError('truncated: no room for a tag and a length');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tags are not supported (0x${tag.toString(16)})`);
  let length = buf[offset + 1];
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw new DerError('indefinite lengths are not DER');
    if (count > 4) throw new DerError(`a ${count}-byte length is too long`);
    if (offset + 2 + count > end) throw new DerError('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i];
    if (buf[offset + 2] === 0 || length < 0x80) throw new DerError('non-minimal length encoding');
    header += count;
  }
  const valueEnd = offset + header + length;
  if (valueEnd > end) throw new DerError(`truncated: value of ${length} bytes runs past its container`);
  return {
    tag,
    raw: buf.subarray(offset, valueEnd),
    value: buf.subarray(offset + header, valueEnd),
  };
}

/** Decodes a buffer holding exactly one TLV (nothing after it). */
export function decodeTlv(buf: Buffer, expectedTag?: number, what = 'value'): Tlv {
  const tlv = decodeTlvAt(buf, 0);
  if (tlv.raw.length !== buf.length) throw new DerError(`${what}: trailing bytes after the DER value`);
  if (expectedTag !== undefined) expectTag(tlv, expectedTag, what);
  return tlv;
}

/** The TLVs inside a constructed value. */
export function childrenOf(tlv: Tlv, what = 'value'): Tlv[] {
  if (!(tlv.tag & 0x20)) throw new DerError(`${what}: expected a constructed value`);
  const out: Tlv[] = [];
  let offset = 0;
  const value = tlv.value;
  while (offset < value.length) {
    const child = decodeTlvAt(value, offset);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

export function expectTag(tlv: Tlv, tag: number, what: string): Tlv {
  if (tlv.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${tlv.tag.toString(16)}`);
  }
  return tlv;
}

/** The children of a SEQUENCE, checking the tag and (when given) how many there may be. */
export function sequence(tlv: Tlv, what: string, min = 0, max = Infinity): Tlv[] {
  expectTag(tlv, Tag.SEQUENCE, what);
  const children = childrenOf(tlv, what);
  if (children.length < min || children.length > max) {
    throw new DerError(`${what}: ${children.length} elements, expected ${min}..${max}`);
  }
  return children;
}

export function decodeOid(tlv: Tlv, what = 'OID'): string {
  expectTag(tlv, Tag.OID, what);
  const v = tlv.value;
  if (v.length === 0) throw new DerError(`${what}: empty OID`);
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    if (n === 0 && v[i] === 0x80) throw new DerError(`${what}: non-minimal OID arc`);
    n = n * 128 + (v[i] & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: OID arc too large`);
    if (!(v[i] & 0x80)) {
      arcs.push(n);
      n = 0;
    } else if (i === v.length - 1) throw new DerError(`${what}: truncated OID`);
  }
  const first = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

/** A non-negative INTEGER's magnitude as a buffer without leading zeros (at least one byte). */
export function decodeUnsignedInteger(tlv: Tlv, what = 'INTEGER'): Buffer {
  expectTag(tlv, Tag.INTEGER, what);
  const v = tlv.value;
  if (v.length === 0) throw new DerError(`${what}: empty INTEGER`);
  if (v[0] & 0x80) throw new DerError(`${what}: negative INTEGER`);
  if (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) throw new DerError(`${what}: non-minimal INTEGER`);
  return v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
}

export function decodeSmallInteger(tlv: Tlv, what = 'INTEGER'): number {
  const magnitude = decodeUnsignedInteger(tlv, what);
  if (magnitude.length > 4) throw new DerError(`${what}: too large`);
  return magnitude.readUIntBE(0, magnitude.length);
}

/** BIT STRING contents with no unused bits (keys and signatures). */
export function decodeBitStringBytes(tlv: Tlv, what = 'BIT STRING'): Buffer {
  expectTag(tlv, Tag.BIT_STRING, what);
  if (tlv.value.length === 0) throw new DerError(`${what}: empty BIT STRING`);
  if (tlv.value[0] !== 0) throw new DerError(`${what}: expected no unused bits`);
  return tlv.value.subarray(1);
}

/** UTCTime or GeneralizedTime (the forms RFC 5280 allows: seconds, "Z"). */
export function decodeTime(tlv: Tlv, what = 'time'): Date {
  const s = tlv.value.toString('latin1');
  let m: RegExpExecArray | null;
  if (tlv.tag === Tag.UTC_TIME && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }
  if (tlv.tag === Tag.GENERALIZED_TIME && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }
  throw new DerError(`${what}: not a DER time`);
}

// ---------------------------------------------------------------------------------------------------------
// Writing

function lengthOf(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes tag + length + the concatenated parts. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const len = lengthOf(length);
  const out = Buffer.allocUnsafe(1 + len.length + length);
  out[0] = tag;
  len.copy(out, 1);
  let offset = 1 + len.length;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(Tag.SEQUENCE, ...parts);
export const set = (...parts: Uint8Array[]): Buffer => tlv(Tag.SET, ...parts);
export const octetString = (bytes: Uint8Array): Buffer => tlv(Tag.OCTET_STRING, bytes);
export const explicit = (n: number, ...parts: Uint8Array[]): Buffer => tlv(contextTag(n, true), ...parts);
export const NULL = Buffer.from([Tag.NULL, 0]);
export const TRUE = Buffer.from([Tag.BOOLEAN, 1, 0xff]);

export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  return tlv(Tag.BIT_STRING, Buffer.from([unusedBits]), bytes);
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new RangeError(`bad OID ${dotted}`);
  }
  const bytes: number[] = [];
  const push = (n: number) => {
    const groups = [n & 0x7f];
    for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) groups.unshift((n & 0x7f) | 0x80);
    bytes.push(...groups);
  };
  push(arcs[0] * 40 + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return tlv(Tag.OID, Buffer.from(bytes));
}

/** An INTEGER from an unsigned big-endian magnitude (leading zeros dropped, a 0x00 added if the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  if (trimmed.length === 0) return Buffer.from([Tag.INTEGER, 1, 0]);
  return trimmed[0] & 0x80 ? tlv(Tag.INTEGER, Buffer.from([0]), trimmed) : tlv(Tag.INTEGER, trimmed);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a non-negative integer`);
  const bytes: number[] = [];
  do {
    bytes.unshift(n % 256);
    n = Math.floor(n / 256);
  } while (n > 0);
  return unsignedInteger(Buffer.from(bytes));
}

export function enumerated(n: number): Buffer {
  const int = smallInteger(n);
  int[0] = Tag.ENUMERATED;
  return int;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, "Z". */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest =
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z';
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(pad(y % 100) + rest, 'latin1'));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(pad(y, 4) + rest, 'latin1'));
}

/** GeneralizedTime always (OCSP and CRL entry fields that RFC 6960 defines as GeneralizedTime). */
export function generalizedTime(date: Date): Buffer {
  const s =
    pad(date.getUTCFullYear(), 4) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z';
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(s, 'latin1'));
}

/** PEM → DER for the first block with the given label. */
export function pemToDer(pem: string, label: string): Buffer {
  const blocks = pemBlocks(pem, label);
  if (blocks.length === 0) throw new DerError(`no PEM block labelled ${label}`);
  return blocks[0];
}

/** Every PEM block with the given label, in order. */
export function pemBlocks(pem: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

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

/**
 * One decoded tag-length-value, as offsets into the buffer it was read from. `raw` (the whole encoding) and
 * `value` (its contents) are views made when asked for: the issuance path reads offsets and bytes in place, so a
 * TLV it walks past costs one small object, not two Buffer views.
 */
export class Tlv {
  constructor(
    readonly source: Buffer,
    readonly tag: number,
    /** Offset of the tag byte in `source`. */
    readonly start: number,
    /** Offset of the first content byte. */
    readonly valueStart: number,
    /** Offset just past the value. */
    readonly end: number,
  ) {}

  get raw(): Buffer {
    return this.source.subarray(this.start, this.end);
  }

  get value(): Buffer {
    return this.source.subarray(this.valueStart, this.end);
  }

  /** The number of content bytes. */
  get length(): number {
    return this.end - this.valueStart;
  }
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
  return new Tlv(buf, tag, offset, offset + header, valueEnd);
}

/** Decodes a buffer holding exactly one TLV (nothing after it). */
export function decodeTlv(buf: Buffer, expectedTag?: number, what = 'value'): Tlv {
  const tlv = decodeTlvAt(buf, 0);
  if (tlv.end !== buf.length) throw new DerError(`${what}: trailing bytes after the DER value`);
  if (expectedTag !== undefined) expectTag(tlv, expectedTag, what);
  return tlv;
}

/** The one TLV a value's contents are made of (an extension's extnValue holds DER this way), checked like decodeTlv. */
export function decodeContents(tlv: Tlv, expectedTag?: number, what = 'value'): Tlv {
  const inner = decodeTlvAt(tlv.source, tlv.valueStart, tlv.end);
  if (inner.end !== tlv.end) throw new DerError(`${what}: trailing bytes after the DER value`);
  if (expectedTag !== undefined) expectTag(inner, expectedTag, what);
  return inner;
}

/** Whether two TLVs have the same encoding (tag, length and contents), compared in place. */
export function sameEncoding(a: Tlv, b: Tlv): boolean {
  return (
    a.end - a.start === b.end - b.start && a.source.compare(b.source, b.start, b.end, a.start, a.end) === 0
  );
}

/** The TLVs inside a constructed value. */
export function childrenOf(tlv: Tlv, what = 'value'): Tlv[] {
  if (!(tlv.tag & 0x20)) throw new DerError(`${what}: expected a constructed value`);
  const out: Tlv[] = [];
  for (let offset = tlv.valueStart; offset < tlv.end;) {
    const child = decodeTlvAt(tlv.source, offset, tlv.end);
    out.push(child);
    offset = child.end;
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

/** Checks an OID's encoding (minimal arcs, not truncated) and returns its arcs when `arcs` is given. */
function readOid(tlv: Tlv, what: string, arcs?: number[]): void {
  expectTag(tlv, Tag.OID, what);
  const v = tlv.source;
  if (tlv.length === 0) throw new DerError(`${what}: empty OID`);
  let n = 0;
  for (let i = tlv.valueStart; i < tlv.end; i++) {
    if (n === 0 && v[i] === 0x80) throw new DerError(`${what}: non-minimal OID arc`);
    n = n * 128 + (v[i] & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: OID arc too large`);
    if (!(v[i] & 0x80)) {
      arcs?.push(n);
      n = 0;
    } else if (i === tlv.end - 1) throw new DerError(`${what}: truncated OID`);
  }
}

/** Throws a DerError unless `tlv` is a well-formed OID. */
export function checkOid(tlv: Tlv, what = 'OID'): void {
  readOid(tlv, what);
}

export function decodeOid(tlv: Tlv, what = 'OID'): string {
  const arcs: number[] = [];
  readOid(tlv, what, arcs);
  const first = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

/** Whether `tlv` is exactly the OID `encoded` (a whole TLV, as `oid()` writes it), compared in place. */
export function isOid(tlv: Tlv, encoded: Buffer): boolean {
  return (
    tlv.end - tlv.start === encoded.length &&
    tlv.source.compare(encoded, 0, encoded.length, tlv.start, tlv.end) === 0
  );
}

/** Where a non-negative INTEGER's magnitude starts in `tlv.source` (past a 0x00 sign byte), checking it is DER. */
function magnitudeStart(tlv: Tlv, what: string): number {
  expectTag(tlv, Tag.INTEGER, what);
  const v = tlv.source;
  const s = tlv.valueStart;
  if (tlv.length === 0) throw new DerError(`${what}: empty INTEGER`);
  if (v[s] & 0x80) throw new DerError(`${what}: negative INTEGER`);
  if (tlv.length > 1 && v[s] === 0 && !(v[s + 1] & 0x80)) throw new DerError(`${what}: non-minimal INTEGER`);
  return v[s] === 0 && tlv.length > 1 ? s + 1 : s;
}

/** A non-negative INTEGER's magnitude as a buffer without leading zeros (at least one byte). */
export function decodeUnsignedInteger(tlv: Tlv, what = 'INTEGER'): Buffer {
  return tlv.source.subarray(magnitudeStart(tlv, what), tlv.end);
}

export function decodeSmallInteger(tlv: Tlv, what = 'INTEGER'): number {
  const start = magnitudeStart(tlv, what);
  if (tlv.end - start > 4) throw new DerError(`${what}: too large`);
  return tlv.source.readUIntBE(start, tlv.end - start);
}

/** The offset in `tlv.source` of a BIT STRING's contents, which must have no unused bits (keys and signatures). */
export function bitStringBytesStart(tlv: Tlv, what = 'BIT STRING'): number {
  expectTag(tlv, Tag.BIT_STRING, what);
  if (tlv.length === 0) throw new DerError(`${what}: empty BIT STRING`);
  if (tlv.source[tlv.valueStart] !== 0) throw new DerError(`${what}: expected no unused bits`);
  return tlv.valueStart + 1;
}

/** BIT STRING contents with no unused bits (keys and signatures). */
export function decodeBitStringBytes(tlv: Tlv, what = 'BIT STRING'): Buffer {
  return tlv.source.subarray(bitStringBytesStart(tlv, what), tlv.end);
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

/** Bytes taken by the tag and length of a value of `length` bytes. */
export function headerSize(length: number): number {
  return length < 0x80 ? 2 : length < 0x100 ? 3 : length < 0x10000 ? 4 : length < 0x1000000 ? 5 : 6;
}

/** Bytes taken by a whole TLV whose value is `length` bytes. */
export const tlvSize = (length: number): number => headerSize(length) + length;

/** Writes a tag and a DER length at `offset`; returns the offset of the value. */
export function writeHeader(out: Uint8Array, offset: number, tag: number, length: number): number {
  out[offset++] = tag;
  if (length < 0x80) {
    out[offset++] = length;
    return offset;
  }
  const count = headerSize(length) - 2;
  out[offset++] = 0x80 | count;
  for (let i = count - 1; i >= 0; i--) out[offset++] = Math.floor(length / 256 ** i) & 0xff;
  return offset;
}

/** Encodes tag + length + the concatenated parts. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafe(tlvSize(length));
  let offset = writeHeader(out, 0, tag, length);
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

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
const isUtcTimeYear = (year: number) => year >= 1950 && year < 2050;

/** Bytes `time(date)` takes. */
export function timeSize(date: Date): number {
  return isUtcTimeYear(date.getUTCFullYear()) ? 15 : 17;
}

function writeDigits(out: Uint8Array, offset: number, n: number, width: number): number {
  for (let i = width - 1; i >= 0; i--) {
    out[offset + i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return offset + width;
}

/** Writes `time(date)` at `offset` without building strings; returns the offset after it. */
export function writeTime(out: Uint8Array, offset: number, date: Date): number {
  const y = date.getUTCFullYear();
  const utc = isUtcTimeYear(y);
  offset = writeHeader(out, offset, utc ? Tag.UTC_TIME : Tag.GENERALIZED_TIME, utc ? 13 : 15);
  offset = utc ? writeDigits(out, offset, y % 100, 2) : writeDigits(out, offset, y, 4);
  offset = writeDigits(out, offset, date.getUTCMonth() + 1, 2);
  offset = writeDigits(out, offset, date.getUTCDate(), 2);
  offset = writeDigits(out, offset, date.getUTCHours(), 2);
  offset = writeDigits(out, offset, date.getUTCMinutes(), 2);
  offset = writeDigits(out, offset, date.getUTCSeconds(), 2);
  out[offset++] = 0x5a; // 'Z'
  return offset;
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, "Z". */
export function time(date: Date): Buffer {
  const out = Buffer.allocUnsafe(timeSize(date));
  writeTime(out, 0, date);
  return out;
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

const isBase64OrSpace = (c: number) =>
  (c >= 0x41 && c <= 0x5a) || // A-Z
  (c >= 0x61 && c <= 0x7a) || // a-z
  (c >= 0x30 && c <= 0x39) || // 0-9
  c === 0x2b || // +
  c === 0x2f || // /
  c === 0x3d || // =
  c === 0x20 ||
  (c >= 0x09 && c <= 0x0d); // tab, newlines, vertical tab, form feed, carriage return

/**
 * Every PEM block with the given label, in order: the text between a BEGIN and the next END line of that label,
 * when it holds only base64 and white space. Read in place: the base64 decoder skips the line breaks, so no
 * block text is copied first.
 */
export function pemBlocks(pem: string, label: string): Buffer[] {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const out: Buffer[] = [];
  for (let at = pem.indexOf(begin); at !== -1;) {
    const bodyStart = at + begin.length;
    const bodyEnd = pem.indexOf(end, bodyStart);
    if (bodyEnd === -1) break;
    let clean = true;
    for (let i = bodyStart; i < bodyEnd && clean; i++) clean = isBase64OrSpace(pem.charCodeAt(i));
    if (clean) {
      out.push(Buffer.from(pem.slice(bodyStart, bodyEnd), 'base64'));
      at = pem.indexOf(begin, bodyEnd + end.length);
    } else {
      at = pem.indexOf(begin, at + 1);
    }
  }
  return out;
}

const BASE64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const PEM_LINE = 64;

/**
 * PEM with 64-character lines, encoded in one pass into one buffer and read out as one string (a certificate's
 * PEM is built on every issuance, and a base64 string cut into lines and joined would be four strings and an
 * array per certificate).
 */
export function derToPem(der: Uint8Array, label: string): string {
  const head = `-----BEGIN ${label}-----\n`;
  const tail = `-----END ${label}-----\n`;
  const chars = 4 * Math.ceil(der.length / 3);
  const out = Buffer.allocUnsafe(head.length + chars + Math.ceil(chars / PEM_LINE) + tail.length);
  let o = out.write(head, 0, 'latin1');
  let column = 0;
  const group = (n: number, significant: number) => {
    out[o] = BASE64[n >> 18];
    out[o + 1] = BASE64[(n >> 12) & 63];
    out[o + 2] = significant > 2 ? BASE64[(n >> 6) & 63] : 0x3d; // '=' padding
    out[o + 3] = significant > 3 ? BASE64[n & 63] : 0x3d;
    o += 4;
    column += 4;
    if (column === PEM_LINE) {
      out[o++] = 0x0a;
      column = 0;
    }
  };
  let i = 0;
  for (; i + 2 < der.length; i += 3) group((der[i] << 16) | (der[i + 1] << 8) | der[i + 2], 4);
  if (i + 1 === der.length) group(der[i] << 16, 2);
  else if (i + 2 === der.length) group((der[i] << 16) | (der[i + 1] << 8), 3);
  if (column !== 0) out[o++] = 0x0a;
  o += out.write(tail, o, 'latin1');
  return out.toString('latin1', 0, o);
}

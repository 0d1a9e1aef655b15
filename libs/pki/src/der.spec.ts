import { openssl } from '@flotilla/testing';
import {
  DerError,
  Tag,
  childrenOf,
  decodeOid,
  decodeTime,
  decodeTlv,
  decodeUnsignedInteger,
  oid,
  seq,
  time,
  tlv,
  unsignedInteger,
} from './der';

describe('DER writer', () => {
  it('encodes OIDs, INTEGERs and long lengths as openssl reads them', () => {
    const der = seq(
      oid('1.2.840.10045.4.3.2'),
      unsignedInteger(Buffer.from([0x80, 0x01])),
      tlv(Tag.OCTET_STRING, Buffer.alloc(300)),
    );
    const text = openssl(['asn1parse', '-inform', 'DER'], { input: der });
    expect(text).toMatch(/OBJECT\s+:ecdsa-with-SHA256/);
    expect(text).toMatch(/INTEGER\s+:8001/);
    expect(text).toMatch(/hl=4 l= 300 prim: OCTET STRING/);
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), and reads both back', () => {
    const a = new Date(Date.UTC(2049, 11, 31, 23, 59, 59));
    const b = new Date(Date.UTC(2050, 0, 1, 0, 0, 0));
    expect(time(a)[0]).toBe(Tag.UTC_TIME);
    expect(time(a).subarray(2).toString()).toBe('491231235959Z');
    expect(time(b)[0]).toBe(Tag.GENERALIZED_TIME);
    expect(time(b).subarray(2).toString()).toBe('20500101000000Z');
    expect(decodeTime(decodeTlv(time(a)))).toEqual(a);
    expect(decodeTime(decodeTlv(time(b)))).toEqual(b);
  });

  it('round-trips OIDs and unsigned integers', () => {
    for (const id of ['2.5.29.17', '1.3.6.1.5.5.7.48.1.2', '2.999.1'])
      expect(decodeOid(decodeTlv(oid(id)))).toBe(id);
    const magnitude = Buffer.from('ff00ff', 'hex');
    expect(decodeUnsignedInteger(decodeTlv(unsignedInteger(magnitude)))).toEqual(magnitude);
  });
});

describe('DER reader', () => {
  it.each([
    ['an indefinite length', Buffer.from([0x30, 0x80, 0x00, 0x00]), /indefinite/],
    ['a non-minimal length', Buffer.from([0x04, 0x81, 0x01, 0x00]), /non-minimal/],
    ['a value running past its end', Buffer.from([0x04, 0x05, 0x00]), /truncated/],
    ['a multi-byte tag', Buffer.from([0x1f, 0x81, 0x00]), /multi-byte/],
    ['trailing bytes', Buffer.from([0x05, 0x00, 0x00]), /trailing/],
    ['a negative INTEGER where a serial is expected', Buffer.from([0x02, 0x01, 0xff]), /negative/],
  ])('refuses %s with a DerError', (_what, bytes, message) => {
    expect(() => {
      const t = decodeTlv(bytes);
      if (t.tag === Tag.INTEGER) decodeUnsignedInteger(t);
      if (t.tag & 0x20) childrenOf(t);
    }).toThrow(DerError);
    expect(() => {
      const t = decodeTlv(bytes);
      if (t.tag === Tag.INTEGER) decodeUnsignedInteger(t);
    }).toThrow(message);
  });
});

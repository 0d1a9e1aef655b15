import { createHash, randomBytes } from 'node:crypto';
import type { protobufAny } from '@flotilla/proto';

type Any = protobufAny.Any;

interface Memo {
  typeUrl: string;
  value: Uint8Array;
  version: string;
}

/**
 * Content hashes memoised per Any object: a resource shared by many connections (the same object from a snapshot
 * or the encoded-resource cache) is hashed once, not once per connection and push. The memo is checked against
 * the Any's current fields, so a mutated Any is hashed again.
 */
const memo = new WeakMap<Any, Memo>();

/** A resource's version: the first 16 hex digits of SHA-256 over its type URL and encoded bytes. */
export function contentVersion(resource: Any): string {
  const hit = memo.get(resource);
  if (hit && hit.value === resource.value && hit.typeUrl === resource.typeUrl) return hit.version;
  const version = createHash('sha256')
    .update(resource.typeUrl)
    .update('\0')
    .update(resource.value)
    .digest('hex')
    .slice(0, 16);
  memo.set(resource, { typeUrl: resource.typeUrl, value: resource.value, version });
  return version;
}

/**
 * The version of a set of named resources: 16 hex digits from the sum, lane by lane modulo 2^32, of a 64-bit hash
 * of each (name, version) pair. Equal sets have equal versions on every connection and every server, so a
 * reconnecting client that already holds the set is recognisable and a push that changes nothing for a connection
 * can be skipped. Being a sum, it needs no sorting, and a VersionMap keeps it up to date as single entries change
 * (an endpoint push changes two of a client's fifteen), instead of rehashing the whole set per response.
 * This is change detection, not integrity: the pair hash (FNV-1a in two lanes with Murmur3's finaliser) spreads
 * well, but is not cryptographic.
 */
export function setVersion(entries: Iterable<{ name: string; version: string }>): string {
  let low = 0;
  let high = 0;
  for (const e of entries) {
    pairHash(e.name, e.version);
    low = (low + pairLow) >>> 0;
    high = (high + pairHigh) >>> 0;
  }
  return hex64(low, high);
}

/**
 * The versions a client holds, by resource name, and the setVersion of them, kept as entries are set and
 * deleted.
 */
export class VersionMap extends Map<string, string> {
  private low = 0;
  private high = 0;
  private hex: string | undefined;

  /** setVersion of the current entries. */
  get version(): string {
    return (this.hex ??= hex64(this.low, this.high));
  }

  override set(name: string, version: string): this {
    const old = super.get(name);
    if (old === version) return this;
    if (old !== undefined) this.remove(name, old);
    pairHash(name, version);
    this.low = (this.low + pairLow) >>> 0;
    this.high = (this.high + pairHigh) >>> 0;
    this.hex = undefined;
    return super.set(name, version);
  }

  override delete(name: string): boolean {
    const old = super.get(name);
    if (old === undefined) return false;
    this.remove(name, old);
    return super.delete(name);
  }

  override clear(): void {
    this.low = 0;
    this.high = 0;
    this.hex = undefined;
    super.clear();
  }

  private remove(name: string, version: string): void {
    pairHash(name, version);
    this.low = (this.low - pairLow) >>> 0;
    this.high = (this.high - pairHigh) >>> 0;
    this.hex = undefined;
  }
}

// pairHash's result, in two module variables rather than a new array per call.
let pairLow = 0;
let pairHigh = 0;

/**
 * Pair hashes by version string. A push records the same few (name, version) pairs on thousands of connections
 * (every proxy is sent the same shared resources), and hashing each pair there was the largest part of a push's
 * own per-connection work. Versions are content hashes, so a version nearly always belongs to one name; a pair
 * whose version is memoised under another name is hashed and not memoised. Cleared when full.
 */
const pairMemo = new Map<string, { name: string; low: number; high: number }>();
const PAIR_MEMO_LIMIT = 50_000;

function pairHash(name: string, version: string): void {
  const hit = pairMemo.get(version);
  if (hit?.name === name) {
    pairLow = hit.low;
    pairHigh = hit.high;
    return;
  }
  hashPair(name, version);
  if (hit !== undefined) return;
  if (pairMemo.size >= PAIR_MEMO_LIMIT) pairMemo.clear();
  pairMemo.set(version, { name, low: pairLow, high: pairHigh });
}

function hashPair(name: string, version: string): void {
  let a = 0x811c9dc5;
  let b = 0xcbf29ce4;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  // A separator no name contains, so ("ab", "c") and ("a", "bc") differ.
  a = Math.imul(a ^ 0x10000, 0x01000193);
  b = Math.imul(b ^ 0x10000, 0x5bd1e995);
  for (let i = 0; i < version.length; i++) {
    const c = version.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  pairLow = fmix32(a);
  pairHigh = fmix32(b ^ pairLow);
}

/** Murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two hex digits for each byte value: Number#toString(16) is slow enough to show in a push's profile. */
const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

function hex32(n: number): string {
  return HEX_BYTES[n >>> 24] + HEX_BYTES[(n >>> 16) & 255] + HEX_BYTES[(n >>> 8) & 255] + HEX_BYTES[n & 255];
}

function hex64(low: number, high: number): string {
  return hex32(high) + hex32(low);
}

/** 64 random bits per process, so nonces of different runs differ. */
const NONCE_PREFIX = randomBytes(8).toString('base64url');
let nonceCounter = 0;

/**
 * A response nonce: unique per response, never reused across streams, and (by the random per-process prefix)
 * not across restarts either. A counter rather than a UUID per response: a push makes thousands of them.
 */
export function newNonce(): string {
  return NONCE_PREFIX + (++nonceCounter).toString(36);
}

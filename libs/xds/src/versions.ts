import { createHash, randomUUID } from 'node:crypto';
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
 * The version of a set of named resources (or a map of name to version): a hash of the sorted (name, version) pairs. Equal sets have equal
 * versions on every connection and every server, so a reconnecting client that already holds the set is
 * recognisable and a push that changes nothing for a connection can be skipped.
 */
export function setVersion(
  entries: Iterable<{ name: string; version: string }> | ReadonlyMap<string, string>,
): string {
  const pairs: string[] = [];
  if (entries instanceof Map) for (const [name, version] of entries) pairs.push(`${name}\0${version}\n`);
  else
    for (const e of entries as Iterable<{ name: string; version: string }>)
      pairs.push(`${e.name}\0${e.version}\n`);
  // One update of the joined pairs hashes the same bytes as an update per pair, for one call into the hash.
  return createHash('sha256').update(pairs.sort().join('')).digest('hex').slice(0, 16);
}

/** A response nonce: unique per response, never reused across streams or restarts. */
export function newNonce(): string {
  return randomUUID();
}

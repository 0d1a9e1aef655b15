import type { protobufAny } from '@flotilla/proto';

export interface EncodedResourceCacheOptions {
  /** Entries kept at most; those unused for longest go first. Default 20 000. */
  maxEntries?: number;
}

/**
 * Encoded resources shared by every connection. A generator that builds the same resource for many proxies
 * (a cluster every sidecar sees, a route of a shared gateway) asks the cache with a key naming what the resource
 * was built from — e.g. the config generation and the inputs that matter — and encodes only on a miss. Returning
 * the same Any object to every connection also means its content hash is computed once.
 *
 * Bounded, so a churn of keys cannot grow it without limit. Eviction is by two generations rather than a strict
 * LRU list: new and recently used entries live in the young map; when it holds half the capacity it becomes the
 * old map and the previous old map is dropped. An entry survives as long as it is used once per generation, and a
 * hit costs one or two Map lookups (a strict LRU re-inserting on every hit leaves deleted slots behind that make
 * finding the oldest entry slow, which showed in pilot's profiles).
 */
export class EncodedResourceCache {
  private young = new Map<string, protobufAny.Any>();
  private old = new Map<string, protobufAny.Any>();
  private readonly generationSize: number;
  private hitCount = 0;
  private missCount = 0;
  /** A short code per type URL for the entries' ids, so a lookup hashes the name and key, not a long URL too. */
  private readonly typeCodes = new Map<string, string>();

  constructor(options: EncodedResourceCacheOptions = {}) {
    this.generationSize = Math.max(1, Math.floor((options.maxEntries ?? 20_000) / 2));
  }

  /** The cached Any for (typeUrl, name, key), encoding it with `encode` on a miss. */
  getOrEncode(typeUrl: string, name: string, key: string, encode: () => protobufAny.Any): protobufAny.Any {
    const id = `${this.typeCode(typeUrl)}\0${name}\0${key}`;
    const young = this.young.get(id);
    if (young) {
      this.hitCount++;
      return young;
    }
    const old = this.old.get(id);
    if (old) {
      this.hitCount++;
      this.old.delete(id);
      this.keep(id, old);
      return old;
    }
    this.missCount++;
    const encoded = encode();
    this.keep(id, encoded);
    return encoded;
  }

  /** Drops the entries of one type (and name), or everything. */
  invalidate(typeUrl?: string, name?: string): void {
    if (typeUrl === undefined) {
      this.young.clear();
      this.old.clear();
      return;
    }
    const code = this.typeCode(typeUrl);
    const prefix = name === undefined ? `${code}\0` : `${code}\0${name}\0`;
    for (const map of [this.young, this.old]) {
      for (const id of [...map.keys()]) if (id.startsWith(prefix)) map.delete(id);
    }
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  stats(): { size: number; hits: number; misses: number } {
    return { size: this.size, hits: this.hitCount, misses: this.missCount };
  }

  private typeCode(typeUrl: string): string {
    let code = this.typeCodes.get(typeUrl);
    if (code === undefined) {
      code = this.typeCodes.size.toString(36);
      this.typeCodes.set(typeUrl, code);
    }
    return code;
  }

  private keep(id: string, encoded: protobufAny.Any): void {
    if (this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(id, encoded);
  }
}

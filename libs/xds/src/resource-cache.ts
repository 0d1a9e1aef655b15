import type { protobufAny } from '@flotilla/proto';

export interface EncodedResourceCacheOptions {
  /** Entries kept; the least recently used go first. Default 10 000. */
  maxEntries?: number;
}

/**
 * Encoded resources shared by every connection. A generator that builds the same resource for many proxies
 * (a cluster every sidecar sees, a route of a shared gateway) asks the cache with a key naming what the resource
 * was built from — e.g. the config generation and the inputs that matter — and encodes only on a miss. Returning
 * the same Any object to every connection also means its content hash is computed once.
 *
 * Bounded (LRU by Map insertion order), so a churn of keys cannot grow it without limit.
 */
export class EncodedResourceCache {
  private readonly entries = new Map<string, protobufAny.Any>();
  private readonly maxEntries: number;
  private hitCount = 0;
  private missCount = 0;

  constructor(options: EncodedResourceCacheOptions = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 10_000);
  }

  /** The cached Any for (typeUrl, name, key), encoding it with `encode` on a miss. */
  getOrEncode(typeUrl: string, name: string, key: string, encode: () => protobufAny.Any): protobufAny.Any {
    const id = cacheId(typeUrl, name, key);
    const hit = this.entries.get(id);
    if (hit) {
      // Refresh recency: re-insert at the end.
      this.entries.delete(id);
      this.entries.set(id, hit);
      this.hitCount++;
      return hit;
    }
    this.missCount++;
    const encoded = encode();
    this.entries.set(id, encoded);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return encoded;
  }

  /** Drops the entries of one type (and name), or everything. */
  invalidate(typeUrl?: string, name?: string): void {
    if (typeUrl === undefined) {
      this.entries.clear();
      return;
    }
    const prefix = name === undefined ? `${typeUrl}\0` : `${typeUrl}\0${name}\0`;
    for (const id of [...this.entries.keys()]) if (id.startsWith(prefix)) this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }

  stats(): { size: number; hits: number; misses: number } {
    return { size: this.entries.size, hits: this.hitCount, misses: this.missCount };
  }
}

function cacheId(typeUrl: string, name: string, key: string): string {
  return `${typeUrl}\0${name}\0${key}`;
}

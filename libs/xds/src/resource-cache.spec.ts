import { EncodedResourceCache } from './resource-cache';

const any = (n: number) => ({ typeUrl: 'type.googleapis.com/test', value: Buffer.from([n]) });

describe('EncodedResourceCache', () => {
  it('encodes once per (type, name, key) and hands every caller the same object', () => {
    const cache = new EncodedResourceCache();
    let encodes = 0;
    const get = (key: string) => cache.getOrEncode('t', 'a', key, () => any(++encodes));
    const first = get('k1');
    expect(get('k1')).toBe(first);
    expect(get('k2')).not.toBe(first);
    expect(encodes).toBe(2);
    expect(cache.stats()).toEqual({ size: 2, hits: 1, misses: 2 });
  });

  it('stays within maxEntries under a churn of keys, keeping an entry that is used in every generation', () => {
    const cache = new EncodedResourceCache({ maxEntries: 10 });
    let hotEncodes = 0;
    for (let i = 0; i < 1000; i++) {
      cache.getOrEncode('t', `cold-${i}`, 'k', () => any(i));
      cache.getOrEncode('t', 'hot', 'k', () => any(++hotEncodes));
      expect(cache.size).toBeLessThanOrEqual(10);
    }
    expect(hotEncodes).toBe(1);
    // A cold entry long unused is gone and is encoded again.
    let again = 0;
    cache.getOrEncode('t', 'cold-0', 'k', () => any(++again));
    expect(again).toBe(1);
  });

  it('drops the entries of one type, one name, or everything', () => {
    const cache = new EncodedResourceCache();
    cache.getOrEncode('t1', 'a', 'k', () => any(1));
    cache.getOrEncode('t1', 'b', 'k', () => any(2));
    cache.getOrEncode('t2', 'a', 'k', () => any(3));
    cache.invalidate('t1', 'a');
    expect(cache.size).toBe(2);
    cache.invalidate('t1');
    expect(cache.size).toBe(1);
    cache.invalidate();
    expect(cache.size).toBe(0);
  });
});

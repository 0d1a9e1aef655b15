import fc from 'fast-check';
import { VersionMap, newNonce, setVersion } from './versions';

const pairs = (entries: [string, string][]) => entries.map(([name, version]) => ({ name, version }));

describe('setVersion', () => {
  it('is the same for the same set in any order, and 16 hex digits', () => {
    const a = setVersion(
      pairs([
        ['x', '1'],
        ['y', '2'],
        ['z', '3'],
      ]),
    );
    expect(
      setVersion(
        pairs([
          ['z', '3'],
          ['x', '1'],
          ['y', '2'],
        ]),
      ),
    ).toBe(a);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
  });

  it('keeps the versions it gave before (the same sets keep their versions across releases)', () => {
    expect(setVersion([])).toBe('0000000000000000');
    expect(
      setVersion(
        pairs([
          ['outbound|9080|v1|svc-0.bench.svc.cluster.local', '0123456789abcdef'],
          ['a', '1'],
        ]),
      ),
    ).toBe('fa17d242b87f1f14');
  });

  it('differs when a version, a name or the membership differs, and keeps name and version apart', () => {
    const base = setVersion(
      pairs([
        ['x', '1'],
        ['y', '2'],
      ]),
    );
    expect(
      setVersion(
        pairs([
          ['x', '1'],
          ['y', '3'],
        ]),
      ),
    ).not.toBe(base);
    expect(
      setVersion(
        pairs([
          ['x', '1'],
          ['w', '2'],
        ]),
      ),
    ).not.toBe(base);
    expect(setVersion(pairs([['x', '1']]))).not.toBe(base);
    expect(setVersion(pairs([['ab', 'c']]))).not.toBe(setVersion(pairs([['a', 'bc']])));
    expect(setVersion([])).toBe('0000000000000000');
  });

  it('gives a pair the same version whether or not its version string was seen with another name first', () => {
    const pair = pairs([['outbound|9080|v1|svc-0.bench.svc.cluster.local', '0123456789abcdef']]);
    const alone = setVersion(pair);
    // Another name with the same version string, then the first again: the memoised pair hashes must not mix.
    const other = setVersion(pairs([['outbound|9080|v2|svc-0.bench.svc.cluster.local', '0123456789abcdef']]));
    expect(other).not.toBe(alone);
    expect(setVersion(pair)).toBe(alone);
    const map = new VersionMap();
    map.set('outbound|9080|v2|svc-0.bench.svc.cluster.local', '0123456789abcdef');
    expect(map.version).toBe(other);
  });

  it('has no collisions among 20,000 single-resource sets of similar names and versions', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      seen.add(
        setVersion(pairs([[`outbound|9080|v1|svc-${i}.bench.svc.cluster.local`, 'a1b2c3d4e5f60718']])),
      );
      seen.add(
        setVersion(
          pairs([['outbound|9080|v1|svc-0.bench.svc.cluster.local', i.toString(16).padStart(16, '0')]]),
        ),
      );
    }
    expect(seen.size).toBe(20_000);
  });
});

describe('VersionMap', () => {
  it('keeps its version equal to setVersion of its entries through any sets, deletes and clears', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        name: fc.constantFrom('a', 'b', 'c', 'd'),
        version: fc.string(),
      }),
      fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
      fc.record({ kind: fc.constant('clear' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const map = new VersionMap();
        for (const o of ops) {
          if (o.kind === 'set') map.set(o.name, o.version);
          else if (o.kind === 'delete') map.delete(o.name);
          else map.clear();
          const entries = [...map].map(([name, version]) => ({ name, version }));
          expect(map.version).toBe(setVersion(entries));
        }
      }),
    );
  });
});

describe('newNonce', () => {
  it('never repeats within a process, and starts with a per-process random prefix', () => {
    const nonces = Array.from({ length: 10_000 }, () => newNonce());
    expect(new Set(nonces).size).toBe(nonces.length);
    const prefix = nonces[0].slice(0, 11);
    expect(prefix).toMatch(/^[A-Za-z0-9_-]{11}$/);
    for (const nonce of nonces) expect(nonce.startsWith(prefix)).toBe(true);
  });
});

import { SubscriberIndex } from './subscriber-index';
import { Subscription, indexedThrough } from './subscriptions';
import { TypeUrl, canonicalTypeUrl } from './type-urls';
import type { ConnectionInfo } from './types';

const connection = {} as ConnectionInfo;

describe('Subscription', () => {
  it('SotW: an empty first request is a wildcard kept while requests stay empty', () => {
    const s = new Subscription('t');
    expect(s.applySotw([], true)).toBe(true);
    expect(s.wildcard).toBe(true);
    expect(s.applySotw([], false)).toBe(false);
    expect(s.wildcard).toBe(true);
    // Naming resources ends the legacy wildcard; an empty list then unsubscribes from everything.
    expect(s.applySotw(['a'], false)).toBe(true);
    expect(s.toJSON()).toEqual({ wildcard: false, names: ['a'] });
    expect(s.applySotw([], false)).toBe(true);
    expect(s.active).toBe(false);
  });

  it('SotW: "*" is an explicit wildcard next to names', () => {
    const s = new Subscription('t');
    s.applySotw(['*', 'a'], true);
    expect(s.toJSON()).toEqual({ wildcard: true, names: ['a'] });
    expect(s.matches('anything')).toBe(true);
    expect(s.applySotw(['a', '*'], false)).toBe(false);
  });

  it('delta: changes are relative; an empty first request is a wildcard until "*" is unsubscribed', () => {
    const s = new Subscription('t');
    expect(s.applyDelta([], [], true)).toEqual({
      added: [],
      removed: [],
      wildcardAdded: true,
      wildcardRemoved: false,
    });
    expect(s.applyDelta(['a', 'b'], [], false).added).toEqual(['a', 'b']);
    expect(s.wildcard).toBe(true);
    expect(s.applyDelta(['a'], ['b', '*', 'never'], false)).toEqual({
      added: [],
      removed: ['b'],
      wildcardAdded: false,
      wildcardRemoved: true,
    });
    expect(s.toJSON()).toEqual({ wildcard: false, names: ['a'] });
    const named = new Subscription('t');
    named.applyDelta(['x'], [], true);
    expect(named.wildcard).toBe(false);
  });

  it('SotW: an ACK repeating the list is no change; the same length with a duplicate is', () => {
    const s = new Subscription('t');
    s.applySotw(['a', 'b'], true);
    expect(s.applySotw(['a', 'b'], false)).toBe(false);
    expect(s.applySotw(['b', 'a'], false)).toBe(false);
    expect(s.applySotw(['a', 'a'], false)).toBe(true);
    expect(s.toJSON()).toEqual({ wildcard: false, names: ['a'] });
    expect(s.applySotw(['a', 'a'], false)).toBe(false);
  });

  it("admittedBy asks a push's filter once per name until the filter or the subscription changes", () => {
    const s = new Subscription('t');
    s.applySotw(['a', 'b', 'c'], true);
    const asked: string[] = [];
    const filter = (_c: ConnectionInfo, _t: string, name: string) => {
      asked.push(name);
      return name !== 'b';
    };
    expect([...s.admittedBy(filter, connection)]).toEqual(['a', 'c']);
    expect([...s.admittedBy(filter, connection)]).toEqual(['a', 'c']);
    expect(asked).toEqual(['a', 'b', 'c']);
    // An ACK repeating the list changes nothing; a new list is asked about again.
    s.applySotw(['a', 'b', 'c'], false);
    s.admittedBy(filter, connection);
    expect(asked).toHaveLength(3);
    s.applySotw(['b', 'd'], false);
    expect([...s.admittedBy(filter, connection)]).toEqual(['d']);
    // Delta changes too, and another filter is another push.
    s.applyDelta(['e'], [], false);
    expect([...s.admittedBy(filter, connection)]).toEqual(['d', 'e']);
    expect(s.admittedBy(() => false, connection).size).toBe(0);
    expect(asked).toEqual(['a', 'b', 'c', 'b', 'd', 'b', 'd', 'e']);
  });
});

describe('Subscription.admittedBy after the index was gone through', () => {
  const filterAdmitting = (names: string[], unindexed?: (c: ConnectionInfo) => boolean) => {
    const asked: string[] = [];
    const filter = Object.assign(
      (_c: ConnectionInfo, _t: string, name: string) => {
        asked.push(name);
        return names.includes(name);
      },
      { byName: () => (name: string) => names.includes(name), unindexed },
    );
    return { filter, asked };
  };

  it('admits nothing without asking when nothing was found for it, unless it changed since', () => {
    const index = new SubscriberIndex<Subscription>();
    const s = new Subscription('t', index);
    s.applySotw(['a', 'b'], true);
    const { filter, asked } = filterAdmitting(['c']);
    indexedThrough(filter, new Set(['t']), index);
    expect(s.admittedBy(filter, connection).size).toBe(0);
    expect(asked).toEqual([]);
    // Subscribed to c after the index was gone through: asked, and c admitted.
    s.applySotw(['a', 'b', 'c'], false);
    expect([...s.admittedBy(filter, connection)]).toEqual(['c']);
    expect(asked).toEqual(['a', 'b', 'c']);
  });

  it('asks about every name of a type or an index not gone through, or of a connection the index does not cover', () => {
    const index = new SubscriberIndex<Subscription>();
    const s = new Subscription('t', index);
    s.applySotw(['a', 'c'], true);
    const otherType = filterAdmitting(['c']);
    indexedThrough(otherType.filter, new Set(['another type']), index);
    expect([...s.admittedBy(otherType.filter, connection)]).toEqual(['c']);
    const otherIndex = filterAdmitting(['c']);
    indexedThrough(otherIndex.filter, new Set(['t']), new SubscriberIndex<Subscription>());
    expect([...s.admittedBy(otherIndex.filter, connection)]).toEqual(['c']);
    const unindexed = filterAdmitting(['c'], (c) => c === connection);
    indexedThrough(unindexed.filter, new Set(['t']), index);
    expect([...s.admittedBy(unindexed.filter, connection)]).toEqual(['c']);
    expect(unindexed.asked).toEqual(['a', 'c']);
  });
});

describe('canonicalTypeUrl', () => {
  it('returns the TypeUrl constant itself for an equal string read off the wire, anything else unchanged', () => {
    const wire = Buffer.from(TypeUrl.ClusterLoadAssignment).toString();
    expect(canonicalTypeUrl(wire)).toBe(TypeUrl.ClusterLoadAssignment);
    expect(canonicalTypeUrl('type.googleapis.com/some.Other')).toBe('type.googleapis.com/some.Other');
  });
});

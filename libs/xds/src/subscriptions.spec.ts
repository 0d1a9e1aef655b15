import { Subscription } from './subscriptions';

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
});

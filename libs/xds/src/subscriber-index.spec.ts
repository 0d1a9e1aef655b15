import fc from 'fast-check';
import { SubscriberIndex } from './subscriber-index';
import { Subscription, WILDCARD } from './subscriptions';
import type { ConnectionInfo } from './types';

const TYPES = ['lds', 'eds'];
const NAMES = ['a', 'b', 'c', 'd', WILDCARD];

/** The index as it should be: recomputed from the live subscriptions. */
function expected(subscriptions: { owner: ConnectionInfo; subscription: Subscription }[]) {
  const names = new Map<string, Map<string, Set<ConnectionInfo>>>();
  const wildcards = new Map<string, Set<ConnectionInfo>>();
  for (const { owner, subscription } of subscriptions) {
    const type = subscription.typeUrl;
    if (subscription.wildcard) {
      if (!wildcards.has(type)) wildcards.set(type, new Set());
      wildcards.get(type)!.add(owner);
    }
    for (const name of subscription.names) {
      if (!names.has(type)) names.set(type, new Map());
      const byName = names.get(type)!;
      if (!byName.has(name)) byName.set(name, new Set());
      byName.get(name)!.add(owner);
    }
  }
  return { names, wildcards };
}

function actual(index: SubscriberIndex<Subscription>) {
  const names = new Map<string, Map<string, Set<ConnectionInfo>>>();
  const wildcards = new Map<string, Set<ConnectionInfo>>();
  for (const type of TYPES) {
    if (index.names(type).size > 0) {
      names.set(
        type,
        new Map(
          [...index.names(type)].map(([name, subs]) => [name, new Set([...subs].map((sub) => sub.owner!))]),
        ),
      );
    }
    if (index.wildcards(type).size > 0)
      wildcards.set(type, new Set([...index.wildcards(type)].map((sub) => sub.owner!)));
  }
  return { names, wildcards };
}

const step = fc.oneof(
  fc.record({
    kind: fc.constant('sotw' as const),
    who: fc.nat(3),
    type: fc.constantFrom(...TYPES),
    names: fc.subarray(NAMES),
  }),
  fc.record({
    kind: fc.constant('delta' as const),
    who: fc.nat(3),
    type: fc.constantFrom(...TYPES),
    subscribe: fc.subarray(NAMES),
    unsubscribe: fc.subarray(NAMES),
  }),
  fc.record({ kind: fc.constant('close' as const), who: fc.nat(3) }),
);

describe('SubscriberIndex', () => {
  it('always equals the index recomputed from the subscriptions, through any requests and closes', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const index = new SubscriberIndex<Subscription>();
        const owners = [0, 1, 2, 3].map((i) => ({ id: `c${i}` }) as ConnectionInfo);
        // Per owner and type, the subscription (a stream's TypeState holds one per type it has asked for).
        let live = new Map<string, { owner: ConnectionInfo; subscription: Subscription }>();
        for (const s of steps) {
          const owner = owners[s.who];
          if (s.kind === 'close') {
            for (const [key, entry] of live) {
              if (entry.owner !== owner) continue;
              entry.subscription.detach();
              live.delete(key);
            }
            continue;
          }
          const key = `${s.who}/${s.type}/${s.kind}`;
          let entry = live.get(key);
          const first = !entry;
          if (!entry) {
            // One protocol per stream and type: a SotW and a delta subscription of the same owner and type
            // would be two streams, so they get owners of their own.
            const streamOwner = s.kind === 'sotw' ? owner : ({ id: `${owner.id}-delta` } as ConnectionInfo);
            entry = { owner: streamOwner, subscription: new Subscription(s.type, index, streamOwner) };
            live.set(key, entry);
          }
          if (s.kind === 'sotw') entry.subscription.applySotw(s.names, first);
          else entry.subscription.applyDelta(s.subscribe, s.unsubscribe, first);
          expect(actual(index)).toEqual(expected([...live.values()]));
        }
        expect(actual(index)).toEqual(expected([...live.values()]));
        for (const entry of live.values()) entry.subscription.detach();
        live = new Map();
        expect(actual(index)).toEqual({ names: new Map(), wildcards: new Map() });
      }),
      { numRuns: 300 },
    );
  });
});

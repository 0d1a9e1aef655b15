import type { ResourceFilter } from './push-request';
import type { SubscriberIndex } from './subscriber-index';
import type { ConnectionInfo, WatchedResources } from './types';

const NONE: ReadonlySet<string> = new Set();

/** Changes to any subscription so far: a subscription's revision is the count when it last changed. */
let changes = 0;

/**
 * Filters whose admitted names a server has found through its subscriber index: the index, the types it looked
 * at, and the change count then (see `indexedThrough`).
 */
const indexed = new WeakMap<
  ResourceFilter,
  { index: SubscriberIndex<Subscription>; types: ReadonlySet<string>; at: number }
>();

/**
 * Records that every name `filter` admits of `types`, on every subscription then in `index` whose connection it
 * does not call unindexed, has been recorded with `Subscription.admit`: such a subscription, unchanged since,
 * admits nothing else, without asking the filter.
 */
export function indexedThrough(
  filter: ResourceFilter,
  types: ReadonlySet<string>,
  index: SubscriberIndex<Subscription>,
): void {
  indexed.set(filter, { index, types, at: changes });
}

/** The resource name that subscribes to everything of a type. */
export const WILDCARD = '*';

/** The outcome of one delta request's subscribe/unsubscribe lists. */
export interface DeltaSubscriptionChange {
  /** Names subscribed by this request that were not subscribed before. */
  added: string[];
  /** Names unsubscribed by this request that were subscribed before. */
  removed: string[];
  wildcardAdded: boolean;
  wildcardRemoved: boolean;
}

/**
 * What one stream subscribes to of one type, with the xDS wildcard rules:
 *
 * - SotW: the first request with no names is a (legacy) wildcard, kept for as long as later requests also name
 *   nothing; "*" among the names is an explicit wildcard alongside named resources; any other list replaces the
 *   subscription (an empty list after named ones unsubscribes from everything).
 * - Delta: requests carry changes. A first request that subscribes to nothing is a wildcard (as if "*" had been
 *   subscribed, which is how Envoy tracks it); "*" in resource_names_unsubscribe ends the wildcard.
 */
export class Subscription implements WatchedResources {
  wildcard = false;
  names = new Set<string>();
  private legacyWildcard = false;
  /** The resource_names of the last SotW request, as sent. */
  private lastSotwNames: readonly string[] | undefined;
  /** The change count when this subscription last changed, so what was derived from the names can tell it is stale. */
  private revision = 0;
  private admittedMemo:
    | {
        filter: ResourceFilter;
        connection: ConnectionInfo;
        revision: number;
        names: ReadonlySet<string>;
        restricted?: WatchedResources;
      }
    | undefined;

  /** `index`, when given, is kept up to date with this subscription's names and wildcard; `owner` is its stream. */
  constructor(
    readonly typeUrl: string,
    private readonly index?: SubscriberIndex<Subscription>,
    readonly owner?: ConnectionInfo,
  ) {}

  /** Whether anything would be sent: a wildcard or at least one name. */
  get active(): boolean {
    return this.wildcard || this.names.size > 0;
  }

  matches(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** Applies a SotW request's resource_names; returns whether the subscription changed. */
  applySotw(resourceNames: readonly string[], first: boolean): boolean {
    // Most requests are ACKs repeating the last request's list: recognise those without building a new set.
    if (!first && sameList(resourceNames, this.lastSotwNames)) return false;
    this.lastSotwNames = resourceNames;
    const wasWildcard = this.wildcard;
    const before = this.names;
    if (resourceNames.length === 0 && (first || this.legacyWildcard)) {
      this.legacyWildcard = true;
      this.wildcard = true;
      this.names = new Set();
    } else {
      this.legacyWildcard = false;
      this.wildcard = resourceNames.includes(WILDCARD);
      this.names = new Set();
      for (const name of resourceNames) if (name !== WILDCARD) this.names.add(internName(name));
    }
    const changed = wasWildcard !== this.wildcard || !sameSet(before, this.names);
    if (changed) {
      this.revision = ++changes;
      this.reindex(before, wasWildcard);
    }
    return changed;
  }

  /** Takes this subscription out of the index (its stream closed). */
  detach(): void {
    this.reindex(this.names, this.wildcard, NONE, false);
  }

  private reindex(
    before: ReadonlySet<string>,
    wasWildcard: boolean,
    after: ReadonlySet<string> = this.names,
    wildcard = this.wildcard,
  ): void {
    const index = this.index;
    if (!index) return;
    for (const name of before) if (!after.has(name)) index.remove(this.typeUrl, name, this);
    for (const name of after) if (!before.has(name)) index.add(this.typeUrl, name, this);
    if (wasWildcard !== wildcard) index.setWildcard(this.typeUrl, this, wildcard);
  }

  /**
   * The subscribed names a push's resource filter admits for `connection`. One push asks this several times per
   * connection (whether to push it at all, then per type as it generates), so the answer is kept until the filter
   * or the subscription changes.
   */
  admittedBy(filter: ResourceFilter, connection: ConnectionInfo): ReadonlySet<string> {
    const memo = this.admittedMemo;
    if (memo && memo.filter === filter && memo.connection === connection && memo.revision === this.revision) {
      return memo.names;
    }
    // Found through the index, and nothing recorded for this subscription as it was then: it admits nothing.
    const found = indexed.get(filter);
    if (
      found !== undefined &&
      found.index === this.index &&
      this.revision <= found.at &&
      found.types.has(this.typeUrl) &&
      !filter.unindexed?.(connection)
    ) {
      this.remember(filter, connection, NONE);
      return NONE;
    }
    let names = NONE;
    for (const name of this.names) {
      if (!filter(connection, this.typeUrl, name)) continue;
      if (names === NONE) names = new Set();
      (names as Set<string>).add(name);
    }
    this.remember(filter, connection, names);
    return names;
  }

  /** Keeps admittedBy's answer, in the memo object already there (one per subscription, not one per push). */
  private remember(filter: ResourceFilter, connection: ConnectionInfo, names: ReadonlySet<string>): void {
    const memo = this.admittedMemo;
    if (!memo) {
      this.admittedMemo = { filter, connection, revision: this.revision, names };
      return;
    }
    memo.filter = filter;
    memo.connection = connection;
    memo.revision = this.revision;
    memo.names = names;
    memo.restricted = undefined;
  }

  /**
   * Adds `name` to what `filter` admits for `connection`, as the server finds it through its index (every name
   * the filter admits of this subscription is added before the push asks admittedBy).
   */
  admit(filter: ResourceFilter, connection: ConnectionInfo, name: string): void {
    const memo = this.admittedMemo;
    if (
      !memo ||
      memo.filter !== filter ||
      memo.connection !== connection ||
      memo.revision !== this.revision ||
      memo.names === NONE
    ) {
      this.remember(filter, connection, new Set([name]));
      return;
    }
    (memo.names as Set<string>).add(name);
  }

  /**
   * This type restricted to `names` (a subset of the subscribed names), as a generator is asked for it. The
   * answer for admittedBy's names is kept with them: a push asks for it once per connection.
   */
  restrictedTo(names: ReadonlySet<string>): WatchedResources {
    const memo = this.admittedMemo;
    if (memo?.names === names) return (memo.restricted ??= { typeUrl: this.typeUrl, wildcard: false, names });
    return { typeUrl: this.typeUrl, wildcard: false, names };
  }

  /** Applies a delta request's subscribe and unsubscribe lists. */
  applyDelta(
    subscribe: readonly string[],
    unsubscribe: readonly string[],
    first: boolean,
  ): DeltaSubscriptionChange {
    const change: DeltaSubscriptionChange = {
      added: [],
      removed: [],
      wildcardAdded: false,
      wildcardRemoved: false,
    };
    const wasWildcard = this.wildcard;
    if (first && subscribe.length === 0 && !unsubscribe.includes(WILDCARD)) {
      this.wildcard = true;
      change.wildcardAdded = true;
    }
    for (const name of subscribe) {
      if (name === WILDCARD) {
        if (!this.wildcard) change.wildcardAdded = true;
        this.wildcard = true;
      } else if (!this.names.has(name)) {
        const interned = internName(name);
        this.names.add(interned);
        this.index?.add(this.typeUrl, interned, this);
        change.added.push(name);
      }
    }
    for (const name of unsubscribe) {
      if (name === WILDCARD) {
        if (this.wildcard) change.wildcardRemoved = true;
        this.wildcard = false;
      } else if (this.names.delete(name)) {
        this.index?.remove(this.typeUrl, name, this);
        change.removed.push(name);
      }
    }
    if (wasWildcard !== this.wildcard) this.index?.setWildcard(this.typeUrl, this, this.wildcard);
    if (change.added.length || change.removed.length || change.wildcardAdded || change.wildcardRemoved) {
      this.revision = ++changes;
    }
    return change;
  }

  /** The JSON-able view for debug pages. */
  toJSON(): { wildcard: boolean; names: string[] } {
    return { wildcard: this.wildcard, names: [...this.names].sort() };
  }
}

/**
 * One string per subscribed name across all streams. Thousands of proxies subscribe to the same few thousand
 * names, each decoded from its own request into a string of its own; a push reads every subscribed name of every
 * stream, and shared strings keep that in a cache-sized working set (and compare by reference). Bounded: past the
 * limit the table starts afresh (names already interned stay shared).
 */
const interned = new Map<string, string>();
const INTERNED_MAX = 200_000;

function internName(name: string): string {
  const known = interned.get(name);
  if (known !== undefined) return known;
  if (interned.size >= INTERNED_MAX) interned.clear();
  interned.set(name, name);
  return name;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function sameList(a: readonly string[], b: readonly string[] | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

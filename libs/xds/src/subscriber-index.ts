/**
 * Which streams subscribe to which resource names, by type: the server's reverse index of its subscriptions,
 * kept up to date as requests change them. A push whose resource filter can test names alone
 * (`ResourceFilter.byName`) finds the streams it concerns here, through the few names it may change, instead of
 * asking every stream about every name it subscribes to.
 */
export class SubscriberIndex<O> {
  private readonly types = new Map<string, { names: Map<string, Set<O>>; wildcards: Set<O> }>();

  add(typeUrl: string, name: string, owner: O): void {
    const names = this.ofType(typeUrl).names;
    let owners = names.get(name);
    if (!owners) names.set(name, (owners = new Set()));
    owners.add(owner);
  }

  remove(typeUrl: string, name: string, owner: O): void {
    const names = this.types.get(typeUrl)?.names;
    const owners = names?.get(name);
    if (!owners) return;
    owners.delete(owner);
    if (owners.size === 0) names!.delete(name);
  }

  setWildcard(typeUrl: string, owner: O, wildcard: boolean): void {
    if (wildcard) this.ofType(typeUrl).wildcards.add(owner);
    else this.types.get(typeUrl)?.wildcards.delete(owner);
  }

  /** Every subscribed name of the type, with the streams subscribing to it. */
  names(typeUrl: string): ReadonlyMap<string, ReadonlySet<O>> {
    return this.types.get(typeUrl)?.names ?? EMPTY;
  }

  /** The streams subscribing to everything of the type. */
  wildcards(typeUrl: string): ReadonlySet<O> {
    return this.types.get(typeUrl)?.wildcards ?? NO_OWNERS;
  }

  private ofType(typeUrl: string): { names: Map<string, Set<O>>; wildcards: Set<O> } {
    let entry = this.types.get(typeUrl);
    if (!entry) this.types.set(typeUrl, (entry = { names: new Map(), wildcards: new Set() }));
    return entry;
  }
}

const EMPTY: ReadonlyMap<string, ReadonlySet<never>> = new Map();
const NO_OWNERS: ReadonlySet<never> = new Set();

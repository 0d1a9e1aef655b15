import { Subscription } from './subscriptions';
import type { ConnectionInfo, WatchedResources } from './types';

/** Which connections a push concerns; when absent, all of them. */
export type PushScope = (connection: ConnectionInfo) => boolean;

/**
 * Which resources a push may have changed (Istio's ConfigsUpdated, seen from the resources' side): true when the
 * resource `name` of `typeUrl` may differ for `connection` since it was last generated. A push with a filter
 * regenerates only those resources: connections watching none of them are not pushed at all, and a SotW response
 * of a type that is not full state (RDS, EDS) carries only the changed ones, which the protocol allows.
 */
export type ResourceFilter = ((connection: ConnectionInfo, typeUrl: string, name: string) => boolean) & {
  /**
   * A test of names alone, by type, that every name the filter admits passes (undefined for a type it has none
   * for). With one for each of a push's types, the server finds the streams concerned through its index of
   * subscribed names, asking the filter only about the names that pass, instead of asking every stream about
   * every name it subscribes to.
   */
  readonly byName?: (typeUrl: string) => ((name: string) => boolean) | undefined;
  /**
   * The connections byName's tests do not hold for (their resources are named some other way): the server asks
   * the filter about every name they subscribe to. Without it, the tests hold for every connection.
   */
  readonly unindexed?: (connection: ConnectionInfo) => boolean;
};

/**
 * One push, possibly merged from many changes by the debouncer and the push queue. A full push regenerates every
 * type a connection watches; an incremental one only `types`.
 */
export interface PushRequest {
  readonly full: boolean;
  readonly types: ReadonlySet<string>;
  readonly scope?: PushScope;
  /** The resources the push may change; when absent, any of the types' resources. */
  readonly resources?: ResourceFilter;
  /** How many changes of each reason were merged into this push ("config", "endpoint", "request", ...). */
  readonly reasons: ReadonlyMap<string, number>;
  /** When the first merged change happened (ms since the epoch): the start of convergence time. */
  readonly start: number;
}

export function pushRequest(init: {
  full: boolean;
  types?: Iterable<string>;
  scope?: PushScope;
  resources?: ResourceFilter;
  reason: string;
  start?: number;
}): PushRequest {
  return {
    full: init.full,
    types: new Set(init.types ?? []),
    scope: init.scope,
    resources: init.resources,
    reasons: new Map([[init.reason, 1]]),
    start: init.start ?? Date.now(),
  };
}

/** Whether `request` concerns `typeUrl` at all. */
export function pushCoversType(request: PushRequest, typeUrl: string): boolean {
  return request.full || request.types.has(typeUrl);
}

/**
 * Whether `request` may change anything `connection` holds of `watched`'s type: a wildcard subscription may
 * always be affected (the set itself may change); a named one when one of its names passes the resource filter.
 */
export function pushAffectsWatched(
  request: PushRequest,
  connection: ConnectionInfo,
  watched: WatchedResources,
): boolean {
  if (!pushCoversType(request, watched.typeUrl)) return false;
  const filter = request.resources;
  if (!filter || watched.wildcard) return true;
  if (watched instanceof Subscription) return watched.admittedBy(filter, connection).size > 0;
  for (const name of watched.names) if (filter(connection, watched.typeUrl, name)) return true;
  return false;
}

/** Whether `request` may change anything `connection` holds, of any type it watches. */
export function pushAffectsConnection(request: PushRequest, connection: ConnectionInfo): boolean {
  // An incremental push names its types: only those of them the connection watches can be affected.
  for (const typeUrl of request.full ? connection.watchedTypes() : request.types) {
    const watched = connection.watched(typeUrl);
    if (watched && pushAffectsWatched(request, connection, watched)) return true;
  }
  return false;
}

/**
 * Two pushes as one: full if either is, the union of types, a scope (and a resource filter) that admits what
 * either admits (none if either has none), the summed reasons and the earlier start.
 */
export function mergePushRequests(a: PushRequest, b: PushRequest): PushRequest {
  const reasons = new Map(a.reasons);
  for (const [reason, n] of b.reasons) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
  return {
    full: a.full || b.full,
    types: new Set([...a.types, ...b.types]),
    scope: a.scope && b.scope ? unionOf(a.scope, b.scope) : undefined,
    resources: a.resources && b.resources ? unionOf(a.resources, b.resources) : undefined,
    reasons,
    start: Math.min(a.start, b.start),
  };
}

/**
 * Beyond this many distinct scopes (or resource filters) a merged push goes to every connection (or may change
 * any resource): merging stays O(1) in memory and evaluation however many scoped pushes a storm merges (a few
 * needless regenerations send nothing, since an unchanged type is not resent).
 */
export const MAX_MERGED_SCOPES = 16;

type Predicate = (...args: never[]) => boolean;

/** The parts of a predicate made by `unionOf`, so unions stay flat instead of nesting closures. */
const unionParts = new WeakMap<Predicate, readonly Predicate[]>();

function unionOf<P extends Predicate>(a: P, b: P): P | undefined {
  const parts = [...new Set([...(unionParts.get(a) ?? [a]), ...(unionParts.get(b) ?? [b])])] as P[];
  if (parts.length === 1) return parts[0];
  if (parts.length > MAX_MERGED_SCOPES) return undefined;
  const union = ((...args: Parameters<P>) => parts.some((part) => part(...args))) as unknown as P;
  unionParts.set(union, parts);
  return union;
}

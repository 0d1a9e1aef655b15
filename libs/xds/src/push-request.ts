import type { ConnectionInfo } from './types';

/** Which connections a push concerns; when absent, all of them. */
export type PushScope = (connection: ConnectionInfo) => boolean;

/**
 * One push, possibly merged from many changes by the debouncer and the push queue. A full push regenerates every
 * type a connection watches; an incremental one only `types`.
 */
export interface PushRequest {
  readonly full: boolean;
  readonly types: ReadonlySet<string>;
  readonly scope?: PushScope;
  /** How many changes of each reason were merged into this push ("config", "endpoint", "request", ...). */
  readonly reasons: ReadonlyMap<string, number>;
  /** When the first merged change happened (ms since the epoch): the start of convergence time. */
  readonly start: number;
}

export function pushRequest(init: {
  full: boolean;
  types?: Iterable<string>;
  scope?: PushScope;
  reason: string;
  start?: number;
}): PushRequest {
  return {
    full: init.full,
    types: new Set(init.types ?? []),
    scope: init.scope,
    reasons: new Map([[init.reason, 1]]),
    start: init.start ?? Date.now(),
  };
}

/** Whether `request` concerns `typeUrl` at all. */
export function pushCoversType(request: PushRequest, typeUrl: string): boolean {
  return request.full || request.types.has(typeUrl);
}

/**
 * Two pushes as one: full if either is, the union of types, a scope that admits what either admits (none if either
 * has none), the summed reasons and the earlier start.
 */
export function mergePushRequests(a: PushRequest, b: PushRequest): PushRequest {
  const reasons = new Map(a.reasons);
  for (const [reason, n] of b.reasons) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
  return {
    full: a.full || b.full,
    types: new Set([...a.types, ...b.types]),
    scope: a.scope && b.scope ? unionScope(a.scope, b.scope) : undefined,
    reasons,
    start: Math.min(a.start, b.start),
  };
}

/**
 * Beyond this many distinct scopes a merged push goes to every connection: merging stays O(1) in memory and
 * evaluation however many scoped pushes a storm merges (a few needless regenerations send nothing, since an
 * unchanged type is not resent).
 */
export const MAX_MERGED_SCOPES = 16;

/** The parts of a scope made by `unionScope`, so unions stay flat instead of nesting closures. */
const scopeParts = new WeakMap<PushScope, readonly PushScope[]>();

function unionScope(a: PushScope, b: PushScope): PushScope | undefined {
  const parts = [...new Set([...(scopeParts.get(a) ?? [a]), ...(scopeParts.get(b) ?? [b])])];
  if (parts.length === 1) return parts[0];
  if (parts.length > MAX_MERGED_SCOPES) return undefined;
  const union: PushScope = (connection) => parts.some((scope) => scope(connection));
  scopeParts.set(union, parts);
  return union;
}

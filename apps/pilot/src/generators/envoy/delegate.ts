// Istio's delegate VirtualServices: an HTTP route of a root VirtualService with `delegate` (and no destinations)
// stands for the HTTP routes of the named VirtualService, each merged with the root route (Istio's
// mergeHTTPRoute): matches must be narrower than the root's (a conflicting child route is dropped), the child's
// other fields win, and the root's fill in what the child leaves unset. Only one level: a delegate's own
// `delegate` routes are ignored, and a delegate must name no hosts.
import type { ConfigEntry } from '../../config-store';
import type { StringMatch } from '../istio-types';
import type { PushContext } from '../model';
import type { EnvoyHTTPMatchRequest, EnvoyHTTPRoute, EnvoyVirtualServiceSpec } from './istio-networking';

/** An HTTP route and the namespace its short host names resolve in (the delegate's, for a merged route). */
export interface ScopedHttpRoute {
  http: EnvoyHTTPRoute;
  namespace: string;
  /** The route's name when it has none: "<namespace>/<VirtualService>.<index>" of the VirtualService defining it. */
  fallbackName: string;
}

type Match = EnvoyHTTPMatchRequest;

/** Whether a child's string match cannot be narrower than the root's (Istio's stringMatchConflict). */
function stringMatchConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  if (root.regex || leaf.regex) return true;
  if (root.exact !== undefined) return leaf.prefix !== undefined || leaf.exact !== root.exact;
  if (root.prefix !== undefined) {
    if (leaf.prefix !== undefined) return !leaf.prefix.startsWith(root.prefix);
    if (leaf.exact !== undefined) return !leaf.exact.startsWith(root.prefix);
  }
  return true;
}

function mapConflict(
  root: Record<string, StringMatch> | undefined,
  leaf: Record<string, StringMatch> | undefined,
) {
  return Object.entries(leaf ?? {}).some(([k, v]) => stringMatchConflict(root?.[k], v));
}

function hasConflict(root: Match, leaf: Match): boolean {
  for (const field of ['uri', 'scheme', 'method', 'authority'] as const) {
    if (stringMatchConflict(root[field], leaf[field])) return true;
  }
  if (mapConflict(root.headers, leaf.headers)) return true;
  if (mapConflict(root.withoutHeaders, leaf.withoutHeaders)) return true;
  if (mapConflict(root.queryParams, leaf.queryParams)) return true;
  if (Boolean(root.ignoreUriCase) !== Boolean(leaf.ignoreUriCase)) return true;
  if (root.port && leaf.port && root.port !== leaf.port) return true;
  if (root.sourceNamespace && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {})) {
    if (root.sourceLabels?.[k] !== undefined && root.sourceLabels[k] !== v) return true;
  }
  if (root.gateways?.length && leaf.gateways?.length) {
    if (leaf.gateways.some((g) => !root.gateways!.includes(g))) return true;
  }
  return false;
}

function joinNames(root: string | undefined, leaf: string | undefined): string | undefined {
  if (!leaf) return root;
  return root ? `${root}-${leaf}` : leaf;
}

function mergeMatch(root: Match, leaf: Match): Match {
  return {
    ...leaf,
    name: joinNames(root.name, leaf.name),
    uri: leaf.uri ?? root.uri,
    scheme: leaf.scheme ?? root.scheme,
    method: leaf.method ?? root.method,
    authority: leaf.authority ?? root.authority,
    headers: { ...root.headers, ...leaf.headers },
    withoutHeaders: { ...root.withoutHeaders, ...leaf.withoutHeaders },
    queryParams: { ...root.queryParams, ...leaf.queryParams },
    port: leaf.port || root.port,
    sourceLabels: { ...root.sourceLabels, ...leaf.sourceLabels },
    sourceNamespace: leaf.sourceNamespace || root.sourceNamespace,
    gateways: leaf.gateways?.length ? leaf.gateways : root.gateways,
  };
}

/**
 * Every child match combined with every root match it does not conflict with; undefined (a conflict) when some
 * child match fits no root match.
 */
function mergeMatches(root: Match[] | undefined, leaf: Match[] | undefined): Match[] | undefined {
  if (!root?.length) return leaf;
  if (!leaf?.length) return root;
  const out: Match[] = [];
  for (const l of leaf) {
    const fitting = root.filter((r) => !hasConflict(r, l));
    if (fitting.length === 0) return undefined;
    for (const r of fitting) out.push(mergeMatch(r, l));
  }
  return out;
}

/** One child route merged with the root route, or undefined when their matches conflict. */
export function mergeDelegateRoute(root: EnvoyHTTPRoute, leaf: EnvoyHTTPRoute): EnvoyHTTPRoute | undefined {
  const match = mergeMatches(root.match, leaf.match);
  if (leaf.match?.length && root.match?.length && !match) return undefined;
  return {
    ...leaf,
    match,
    name: joinNames(root.name, leaf.name),
    rewrite: leaf.rewrite ?? root.rewrite,
    directResponse: leaf.directResponse ?? root.directResponse,
    timeout: leaf.timeout ?? root.timeout,
    retries: leaf.retries ?? root.retries,
    fault: leaf.fault ?? root.fault,
    mirror: leaf.mirror ?? root.mirror,
    mirrorPercentage: leaf.mirrorPercentage ?? root.mirrorPercentage,
    mirrorPercent: leaf.mirrorPercent ?? root.mirrorPercent,
    mirrors: leaf.mirrors ?? root.mirrors,
    corsPolicy: leaf.corsPolicy ?? root.corsPolicy,
    headers: leaf.headers ?? root.headers,
    delegate: undefined,
  };
}

/** The delegate VirtualService a root route names: in its namespace (the root's when unset), without hosts. */
function findDelegate(push: PushContext, name: string, namespace: string) {
  return push.allVirtualServices.find(
    (vs) => vs.name === name && vs.namespace === namespace && !(vs.spec.hosts ?? []).length,
  ) as ConfigEntry<EnvoyVirtualServiceSpec> | undefined;
}

/**
 * The HTTP routes of a VirtualService with its delegate routes replaced by the merged routes of the
 * VirtualServices they name (a missing delegate contributes nothing).
 */
export function effectiveHttpRoutes(
  push: PushContext,
  vs: ConfigEntry<EnvoyVirtualServiceSpec>,
): ScopedHttpRoute[] {
  const out: ScopedHttpRoute[] = [];
  for (const [i, http] of (vs.spec.http ?? []).entries()) {
    if (!http.delegate) {
      out.push({ http, namespace: vs.namespace, fallbackName: `${vs.namespace}/${vs.name}.${i}` });
      continue;
    }
    const ns = http.delegate.namespace || vs.namespace;
    const child = findDelegate(push, http.delegate.name, ns);
    for (const [j, leaf] of (child?.spec.http ?? []).entries()) {
      if (leaf.delegate) continue;
      const merged = mergeDelegateRoute(http, leaf);
      if (merged) out.push({ http: merged, namespace: ns, fallbackName: `${ns}/${child!.name}.${j}` });
    }
  }
  return out;
}

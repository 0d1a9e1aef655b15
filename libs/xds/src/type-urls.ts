import { TYPE_URL_PREFIX } from '@flotilla/proto';
import type { PushRequest } from './push-request';

/** The type URLs of the resource types Envoy and proxyless gRPC ask for over ADS. */
export const TypeUrl = {
  Listener: `${TYPE_URL_PREFIX}envoy.config.listener.v3.Listener`,
  RouteConfiguration: `${TYPE_URL_PREFIX}envoy.config.route.v3.RouteConfiguration`,
  Cluster: `${TYPE_URL_PREFIX}envoy.config.cluster.v3.Cluster`,
  ClusterLoadAssignment: `${TYPE_URL_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  Secret: `${TYPE_URL_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`,
  ExtensionConfig: `${TYPE_URL_PREFIX}envoy.config.core.v3.TypedExtensionConfig`,
} as const;

const CANONICAL = new Map<string, string>(Object.values(TypeUrl).map((t) => [t, t]));

/**
 * The TypeUrl constant equal to `typeUrl` (else `typeUrl` itself). A type URL read from a request is a string of
 * its own; kept as the constant, it compares with the constants by reference instead of by its 60-odd characters,
 * which a push does for every subscribed name of every connection.
 */
export function canonicalTypeUrl(typeUrl: string): string {
  return CANONICAL.get(typeUrl) ?? typeUrl;
}

const SHORT_NAMES = new Map<string, string>([
  [TypeUrl.Cluster, 'cds'],
  [TypeUrl.ClusterLoadAssignment, 'eds'],
  [TypeUrl.Listener, 'lds'],
  [TypeUrl.RouteConfiguration, 'rds'],
  [TypeUrl.Secret, 'sds'],
  [TypeUrl.ExtensionConfig, 'ecds'],
]);

/**
 * The `type` label Istio puts on its xDS metrics: "cds", "eds", "lds", "rds", "sds", "ecds" for the Envoy types
 * and the type URL itself for anything else (MCP collections, for instance).
 */
export function metricTypeOf(typeUrl: string): string {
  return SHORT_NAMES.get(typeUrl) ?? typeUrl;
}

/**
 * Listener and Cluster are the SotW types whose every response carries the whole set: a resource left out of a
 * response is deleted by the client. For the other types a SotW response only adds or updates.
 */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Cluster;
}

/**
 * Make-before-break order for a push that touches several types (as Istio orders them): clusters before the
 * endpoints they use, listeners before the routes they name, so a client never holds a reference to a resource
 * it has not been sent yet. Types not named here keep their subscription order, after these.
 */
const PUSH_ORDER = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Secret,
  TypeUrl.ExtensionConfig,
];

const PUSH_RANKED: ReadonlySet<string> = new Set(PUSH_ORDER);

/** inPushOrder of a push's types, made once per push (a push asks it for every connection). */
const pushOrders = new WeakMap<PushRequest, readonly string[]>();

export function typesInPushOrder(request: PushRequest): readonly string[] {
  let ordered = pushOrders.get(request);
  if (!ordered) pushOrders.set(request, (ordered = inPushOrder(request.types)));
  return ordered;
}

export function inPushOrder(typeUrls: Iterable<string>): string[] {
  const given = new Set(typeUrls);
  const ordered: string[] = [];
  for (const t of PUSH_ORDER) if (given.has(t)) ordered.push(t);
  for (const t of given) if (!PUSH_RANKED.has(t)) ordered.push(t);
  return ordered;
}

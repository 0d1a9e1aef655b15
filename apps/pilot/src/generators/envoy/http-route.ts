import { core, corsFilter, fault, packAny, previousHosts, routeComponents } from '@flotilla/proto';
import type { protobufAny } from '@flotilla/proto';
import { selectorMatches } from '@flotilla/registry';
import { FAULT_FILTER } from '../listener';
import { clusterName, parseDuration, resolveHost } from '../model';
import type { Proxy, PushContext } from '../model';
import { faultConfig, routeMatch } from '../route';
import type { StringMatch } from '../istio-types';
import { CORS_FILTER } from './common';
import { hashPolicies } from './load-balancing';
import type {
  CorsPolicy,
  EnvoyHTTPMatchRequest,
  EnvoyHTTPRoute,
  HTTPRedirect,
  HeaderOperations,
  Headers,
} from './istio-networking';
import type { ScopedHttpRoute } from './delegate';

type Route = routeComponents.Route;
type RouteAction = NonNullable<Route['route']>;
type HeaderValueOption = core.HeaderValueOption;

/** Istio's retry policy for routes that name none (pilot's DefaultRetryPolicy). */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
export const DEFAULT_RETRY_ATTEMPTS = 2;
const DEFAULT_RETRIABLE_STATUS = 503;
/** Istio retries on another host up to five times before giving up on finding one. */
const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5;
/** Istio's retries prefer hosts not tried yet. */
const PREVIOUS_HOSTS_PREDICATE = 'envoy.retry_host_predicates.previous_hosts';

const MILLION = 2; // envoy.type.v3.FractionalPercent.DenominatorType.MILLION
const ZERO = { seconds: 0, nanos: 0 };

const REDIRECT_CODES: Record<number, routeComponents.RedirectAction_RedirectResponseCode> = {
  301: routeComponents.RedirectAction_RedirectResponseCode.MOVED_PERMANENTLY,
  302: routeComponents.RedirectAction_RedirectResponseCode.FOUND,
  303: routeComponents.RedirectAction_RedirectResponseCode.SEE_OTHER,
  307: routeComponents.RedirectAction_RedirectResponseCode.TEMPORARY_REDIRECT,
  308: routeComponents.RedirectAction_RedirectResponseCode.PERMANENT_REDIRECT,
};

/** Where routes are being built: which proxy, on which port, as which gateways ("mesh" for a sidecar). */
export interface RouteContext {
  push: PushContext;
  proxy: Proxy;
  /** The port of the listener or service the route configuration serves (for match.port). */
  port: number;
  /** The gateway names the proxy answers to: "mesh" for a sidecar, "namespace/name" for a gateway. */
  gateways: ReadonlySet<string>;
  /**
   * The port of a destination that names none and whose service has several: the service port for a sidecar,
   * undefined on a gateway (where the listener port says nothing about the destination).
   */
  defaultDestinationPort?: number;
}

/** A percentage (0–100, fractions allowed) as an Envoy FractionalPercent of a million, as Istio translates it. */
export function fractionalPercent(value: number) {
  return { numerator: Math.round(value * 10_000), denominator: MILLION };
}

/**
 * Istio's gateway reference resolution: "mesh" stays, "name" and "./name" are in the VirtualService's namespace,
 * "namespace/name" is taken as written.
 */
export function resolveGatewayName(name: string, namespace: string): string {
  if (name === 'mesh') return name;
  if (name.startsWith('./')) return `${namespace}/${name.slice(2)}`;
  if (!name.includes('/')) return `${namespace}/${name.split('.')[0]}`;
  return name;
}

/** The gateways a VirtualService binds to: "mesh" when it names none. */
export function virtualServiceGateways(gateways: string[] | undefined, namespace: string): string[] {
  return gateways?.length ? gateways.map((g) => resolveGatewayName(g, namespace)) : ['mesh'];
}

function stringMatcher(m: StringMatch) {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { safeRegex: { regex: m.regex } };
  return undefined;
}

/** An Istio match as an Envoy RouteMatch: uri, headers, query parameters, and method/authority/scheme headers. */
export function envoyRouteMatch(m: EnvoyHTTPMatchRequest | undefined) {
  const out = routeMatch(m);
  for (const [name, value] of [
    [':authority', m?.authority],
    [':method', m?.method],
    [':scheme', m?.scheme],
  ] as const) {
    const stringMatch = value && stringMatcher(value);
    if (stringMatch) out.headers.push(routeComponents.HeaderMatcher.fromPartial({ name, stringMatch }));
  }
  return out;
}

/** Whether an Istio match applies on this proxy and port: gateways, port, sourceLabels, sourceNamespace. */
export function matchApplies(ctx: RouteContext, m: EnvoyHTTPMatchRequest | undefined, namespace: string) {
  if (!m) return true;
  if (m.gateways?.length && !m.gateways.some((g) => ctx.gateways.has(resolveGatewayName(g, namespace))))
    return false;
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceLabels && !selectorMatches(m.sourceLabels, ctx.proxy.labels)) return false;
  if (m.sourceNamespace && m.sourceNamespace !== ctx.proxy.namespace) return false;
  return true;
}

function headerOptions(
  ops: HeaderOperations | undefined,
): Pick<Route, 'requestHeadersToAdd'>['requestHeadersToAdd'] {
  const out: HeaderValueOption[] = [];
  const entries = (r: Record<string, string> | undefined) =>
    Object.entries(r ?? {}).sort(([a], [b]) => a.localeCompare(b));
  for (const [key, value] of entries(ops?.set)) {
    out.push(
      core.HeaderValueOption.fromPartial({
        header: { key, value },
        appendAction: core.HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
      }),
    );
  }
  for (const [key, value] of entries(ops?.add)) {
    out.push(
      core.HeaderValueOption.fromPartial({
        header: { key, value },
        appendAction: core.HeaderValueOption_HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD,
      }),
    );
  }
  return out;
}

/** Istio's header manipulation (headers.request/response set, add, remove) as Envoy's route or cluster fields. */
export function headerManipulation(headers: Headers | undefined) {
  return {
    requestHeadersToAdd: headerOptions(headers?.request),
    requestHeadersToRemove: [...(headers?.request?.remove ?? [])],
    responseHeadersToAdd: headerOptions(headers?.response),
    responseHeadersToRemove: [...(headers?.response?.remove ?? [])],
  };
}

/**
 * Istio's retries: none when attempts is 0, its default policy when the route names none (2 attempts on connect
 * failures, refused streams, unavailable, cancelled and 503, preferring hosts not tried yet); status codes in
 * retryOn ("503,connect-failure") become retriable_status_codes with "retriable-status-codes" added.
 */
export function envoyRetryPolicy(retries: EnvoyHTTPRoute['retries']) {
  if (retries && (retries.attempts ?? 0) <= 0) return undefined;
  const conditions: string[] = [];
  const codes: number[] = [];
  for (const part of (retries?.retryOn || DEFAULT_RETRY_ON).split(',').map((s) => s.trim())) {
    if (!part) continue;
    if (/^\d+$/.test(part)) codes.push(Number(part));
    else conditions.push(part);
  }
  if (!retries?.retryOn) codes.push(DEFAULT_RETRIABLE_STATUS);
  if (codes.length > 0 && !conditions.includes('retriable-status-codes'))
    conditions.push('retriable-status-codes');
  return routeComponents.RetryPolicy.fromPartial({
    retryOn: conditions.join(','),
    numRetries: retries?.attempts ?? DEFAULT_RETRY_ATTEMPTS,
    perTryTimeout: parseDuration(retries?.perTryTimeout),
    retriableStatusCodes: codes,
    retryHostPredicate: [
      {
        name: PREVIOUS_HOSTS_PREDICATE,
        typedConfig: packAny(
          previousHosts.PreviousHostsPredicate,
          previousHosts.PreviousHostsPredicate.fromPartial({}),
        ),
      },
    ],
    hostSelectionRetryMaxAttempts: HOST_SELECTION_RETRY_MAX_ATTEMPTS,
  });
}

function destinationPort(ctx: RouteContext, host: string, port: number | undefined): number {
  if (port) return port;
  const svc = ctx.push.service(host);
  if (svc && svc.ports.length === 1) return svc.ports[0].port;
  return ctx.defaultDestinationPort ?? svc?.ports[0]?.port ?? ctx.port;
}

/** The cluster of an Istio Destination, its host resolved in the namespace of the VirtualService naming it. */
export function destinationCluster(
  ctx: RouteContext,
  dest: { host: string; subset?: string; port?: { number?: number } },
  namespace: string,
) {
  const host = resolveHost(dest.host, namespace, ctx.push.domainSuffix);
  const port = destinationPort(ctx, host, dest.port?.number);
  return { host, port, subset: dest.subset ?? '', name: clusterName(host, port, dest.subset ?? '') };
}

function redirectAction(r: HTTPRedirect): routeComponents.RedirectAction {
  return routeComponents.RedirectAction.fromPartial({
    pathRedirect: r.uri,
    hostRedirect: r.authority ?? '',
    portRedirect: r.port ?? 0,
    schemeRedirect: r.scheme,
    responseCode: REDIRECT_CODES[r.redirectCode ?? 301] ?? REDIRECT_CODES[301],
  });
}

/** Istio's CorsPolicy as the CORS filter's per-route config. */
export function corsPolicy(c: CorsPolicy): corsFilter.CorsPolicy {
  return corsFilter.CorsPolicy.fromPartial({
    allowOriginStringMatch: (c.allowOrigins ?? []).flatMap((o) => {
      const m = stringMatcher(o);
      return m ? [m] : [];
    }),
    allowMethods: (c.allowMethods ?? []).join(','),
    allowHeaders: (c.allowHeaders ?? []).join(','),
    exposeHeaders: (c.exposeHeaders ?? []).join(','),
    maxAge: c.maxAge ? String(parseDuration(c.maxAge)?.seconds ?? '') : '',
    allowCredentials: c.allowCredentials,
    filterEnabled: { defaultValue: fractionalPercent(100) },
  });
}

function routeAction(ctx: RouteContext, http: EnvoyHTTPRoute, namespace: string): RouteAction {
  const dests = (http.route ?? []).map((d) => ({
    ...destinationCluster(ctx, d.destination, namespace),
    weight: d.weight,
    headers: d.headers,
  }));
  // Istio: a lone destination takes all traffic; otherwise weights as given (unset counts as 0 when any is set)
  // and destinations of weight 0 get none.
  const anyWeight = dests.some((d) => d.weight !== undefined);
  let weighted = dests
    .map((d) => ({ ...d, weight: dests.length === 1 ? 100 : anyWeight ? (d.weight ?? 0) : 1 }))
    .filter((d) => d.weight > 0);
  if (weighted.length === 0) weighted = dests.map((d) => ({ ...d, weight: 1 }));
  const action: Partial<RouteAction> = {};
  if (weighted.length === 1) {
    action.cluster = weighted[0].name;
  } else {
    action.weightedClusters = routeComponents.WeightedCluster.fromPartial({
      clusters: weighted.map((d) => ({ name: d.name, weight: d.weight, ...headerManipulation(d.headers) })),
    });
  }
  const timeout = parseDuration(http.timeout);
  // Istio: an unset or zero timeout disables Envoy's 15 s default.
  if (timeout && (timeout.seconds > 0 || timeout.nanos > 0)) {
    action.timeout = timeout;
    action.maxStreamDuration = { maxStreamDuration: timeout, grpcTimeoutHeaderMax: timeout };
  } else {
    action.timeout = ZERO;
  }
  const retry = envoyRetryPolicy(http.retries);
  if (retry) action.retryPolicy = retry;
  if (http.rewrite?.uri !== undefined) action.prefixRewrite = http.rewrite.uri;
  if (http.rewrite?.uriRegexRewrite) {
    action.regexRewrite = {
      pattern: { regex: http.rewrite.uriRegexRewrite.match },
      substitution: http.rewrite.uriRegexRewrite.rewrite,
    };
  }
  if (http.rewrite?.authority) action.hostRewriteLiteral = http.rewrite.authority;
  const mirrors = [
    ...(http.mirror
      ? [{ destination: http.mirror, percent: http.mirrorPercentage?.value ?? http.mirrorPercent ?? 100 }]
      : []),
    ...(http.mirrors ?? []).map((m) => ({ destination: m.destination, percent: m.percentage?.value ?? 100 })),
  ];
  if (mirrors.length) {
    action.requestMirrorPolicies = mirrors.map((m) =>
      routeComponents.RouteAction_RequestMirrorPolicy.fromPartial({
        cluster: destinationCluster(ctx, m.destination, namespace).name,
        runtimeFraction: { defaultValue: fractionalPercent(m.percent) },
      }),
    );
  }
  // Consistent hashing is per destination; Istio takes the first destination's policy.
  const first = weighted[0];
  action.hashPolicy = hashPolicies(
    ctx.push.destinationRuleFor(first.host, ctx.proxy.namespace),
    first.subset,
    first.port,
  );
  return routeComponents.RouteAction.fromPartial(action);
}

/** The per-filter configs of a route: fault injection and CORS. */
function perFilterConfig(http: EnvoyHTTPRoute): Record<string, protobufAny.Any> {
  const out: Record<string, protobufAny.Any> = {};
  const faultCfg = http.fault ? faultConfig(http.fault) : undefined;
  if (faultCfg) out[FAULT_FILTER] = packAny(fault.HTTPFault, faultCfg);
  if (http.corsPolicy) out[CORS_FILTER] = packAny(corsFilter.CorsPolicy, corsPolicy(http.corsPolicy));
  return out;
}

function isCatchAll(r: Route): boolean {
  const m = r.match!;
  return (m.prefix === '/' || m.prefix === '') && m.headers.length === 0 && m.queryParameters.length === 0;
}

/**
 * Istio's route name: the HTTP route's name, with the match's name after a dot when it has one; an unnamed route
 * is named after its VirtualService and index, so that every route can be told apart in stats and tests.
 */
function routeName(scoped: ScopedHttpRoute, m: EnvoyHTTPMatchRequest | undefined): string {
  if (m?.name) return `${scoped.http.name ?? ''}.${m.name}`;
  return scoped.http.name ?? scoped.fallbackName;
}

/**
 * Envoy routes for the HTTP routes of VirtualServices (delegates already merged in), in order: one per Istio
 * match that applies here (an HTTP route's matches are ORed), each a redirect, a direct response or a route to
 * its destinations with timeout, retries, rewrite, mirror, header manipulation, fault and CORS. Routing stops at
 * the first catch-all, as in Istio.
 */
export function translateHttpRoutes(ctx: RouteContext, routes: readonly ScopedHttpRoute[]): Route[] {
  const out: Route[] = [];
  for (const scoped of routes) {
    const { http, namespace } = scoped;
    if (!http.route?.length && !http.redirect && !http.directResponse) continue;
    for (const m of http.match?.length ? http.match : [undefined]) {
      if (!matchApplies(ctx, m, namespace)) continue;
      const r: Parameters<typeof routeComponents.Route.fromPartial>[0] = {
        name: routeName(scoped, m),
        match: envoyRouteMatch(m),
        typedPerFilterConfig: perFilterConfig(http),
        ...headerManipulation(http.headers),
      };
      if (http.redirect) r.redirect = redirectAction(http.redirect);
      else if (http.directResponse) {
        const body = http.directResponse.body;
        r.directResponse = {
          status: http.directResponse.status,
          body:
            body?.string !== undefined
              ? { inlineString: body.string }
              : body?.bytes !== undefined
                ? { inlineBytes: Buffer.from(body.bytes, 'base64') }
                : undefined,
        };
      } else r.route = routeAction(ctx, http, namespace);
      // A lone destination's header operations apply to the whole route (Istio merges them in).
      if (http.route?.length === 1 && http.route[0].headers) {
        const d = headerManipulation(http.route[0].headers);
        r.requestHeadersToAdd = [...r.requestHeadersToAdd!, ...d.requestHeadersToAdd];
        r.requestHeadersToRemove = [...r.requestHeadersToRemove!, ...d.requestHeadersToRemove];
        r.responseHeadersToAdd = [...r.responseHeadersToAdd!, ...d.responseHeadersToAdd];
        r.responseHeadersToRemove = [...r.responseHeadersToRemove!, ...d.responseHeadersToRemove];
      }
      const built = routeComponents.Route.fromPartial(r);
      out.push(built);
      if (isCatchAll(built)) return out;
    }
  }
  return out;
}

/** The route of a host no VirtualService routes: to its default cluster, with Istio's default retries. */
export function defaultRoute(ctx: RouteContext, host: string, port: number): Route {
  return routeComponents.Route.fromPartial({
    name: 'default',
    match: { prefix: '/' },
    route: {
      cluster: clusterName(host, port),
      timeout: ZERO,
      retryPolicy: envoyRetryPolicy(undefined),
      hashPolicy: hashPolicies(ctx.push.destinationRuleFor(host, ctx.proxy.namespace), '', port),
    },
  });
}

import { status as grpcStatus } from '@grpc/grpc-js';
import { fault, packAny, route, routeComponents } from '@flotilla/proto';
import type { Service } from '@flotilla/registry';
import { TypeUrl, contentVersion } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import type { ConfigEntry } from '../config-store';
import type {
  DestinationRuleSpec,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  StringMatch,
  VirtualServiceSpec,
} from './istio-types';
import { FAULT_FILTER } from './listener';
import { selectorMatches } from '@flotilla/registry';
import {
  clusterName,
  hostPort,
  labelsKey,
  parseDuration,
  resolveHost,
  sortedNames,
  splitHostPort,
} from './model';
import type { Proxy, PushContext } from './model';
import { encoded } from './types';
import type { GenerateRequest } from './types';

type Route = routeComponents.Route;
type RouteMatch = NonNullable<Route['match']>;
type RouteAction = NonNullable<Route['route']>;
type StringMatcher = NonNullable<NonNullable<RouteMatch['headers'][number]>['stringMatch']>;

/** Istio's retry default when a route names none (pilot's DefaultRetryPolicy). */
export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';
export const DEFAULT_RETRY_ATTEMPTS = 2;

/** gRPC status names (Istio's HTTPFaultInjection.Abort.grpcStatus, e.g. "UNAVAILABLE") to codes. */
const GRPC_CODES = grpcStatus as unknown as Record<string, number | undefined>;

function stringMatcher(m: StringMatch, ignoreCase = false): StringMatcher | undefined {
  if (m.exact !== undefined) return { exact: m.exact, ignoreCase } as StringMatcher;
  if (m.prefix !== undefined) return { prefix: m.prefix, ignoreCase } as StringMatcher;
  if (m.regex !== undefined) return { safeRegex: { regex: m.regex } } as StringMatcher;
  return undefined;
}

/** An Istio HTTPMatchRequest as an Envoy RouteMatch (path, headers, query parameters). */
export function routeMatch(match: HTTPMatchRequest | undefined): RouteMatch {
  const out: Partial<RouteMatch> = { headers: [], queryParameters: [] };
  const uri = match?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.prefix !== undefined) out.prefix = uri.prefix;
  else if (uri?.regex !== undefined) out.safeRegex = { regex: uri.regex } as RouteMatch['safeRegex'];
  else out.prefix = '/';
  if (match?.ignoreUriCase) out.caseSensitive = false;
  for (const [name, m] of Object.entries(match?.headers ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const stringMatch = stringMatcher(m);
    out.headers!.push(
      stringMatch
        ? routeComponents.HeaderMatcher.fromPartial({ name, stringMatch })
        : routeComponents.HeaderMatcher.fromPartial({ name, presentMatch: true }),
    );
  }
  for (const [name, m] of Object.entries(match?.withoutHeaders ?? {}).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    const stringMatch = stringMatcher(m);
    out.headers!.push(
      routeComponents.HeaderMatcher.fromPartial(
        stringMatch
          ? { name, stringMatch, invertMatch: true }
          : { name, presentMatch: true, invertMatch: true },
      ),
    );
  }
  for (const [name, m] of Object.entries(match?.queryParams ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const stringMatch = stringMatcher(m);
    out.queryParameters!.push(
      routeComponents.QueryParameterMatcher.fromPartial(
        stringMatch ? { name, stringMatch } : { name, presentMatch: true },
      ),
    );
  }
  return routeComponents.RouteMatch.fromPartial(out);
}

function percentage(p: { value?: number } | undefined, legacy?: number) {
  const value = p?.value ?? legacy ?? 100;
  // Istio's translation: a percentage of a million, so fractional percents survive.
  return { numerator: Math.round(value * 10_000), denominator: 2 /* MILLION */ };
}

/** Istio's fault injection as the HTTPFault per-route config of the fault filter (empty: no fault). */
export function faultConfig(f: HTTPFaultInjection | undefined): fault.HTTPFault {
  const out: Parameters<typeof fault.HTTPFault.fromPartial>[0] = {};
  if (f?.delay?.fixedDelay) {
    out.delay = {
      fixedDelay: parseDuration(f.delay.fixedDelay),
      percentage: percentage(f.delay.percentage, f.delay.percent),
    };
  }
  if (f?.abort) {
    const abort: NonNullable<typeof out.abort> = { percentage: percentage(f.abort.percentage) };
    if (f.abort.grpcStatus !== undefined)
      abort.grpcStatus = GRPC_CODES[f.abort.grpcStatus] ?? Number(f.abort.grpcStatus);
    else if (f.abort.httpStatus !== undefined) abort.httpStatus = f.abort.httpStatus;
    out.abort = abort;
  }
  return fault.HTTPFault.fromPartial(out);
}

/**
 * Every route names the fault filter's per-route config, an empty HTTPFault when the route injects nothing. Besides
 * being what the route means, this works around grpc-js-xds's change detection: it compares a new resource with the
 * cached one key by key from the cached side only, so a typed_per_filter_config going from {} to {fault: …} looks
 * unchanged and the fault would never apply; with the key always present, its value changes instead.
 */
function faultOverride(f: HTTPFaultInjection | undefined): Record<string, ReturnType<typeof packAny>> {
  return { [FAULT_FILTER]: packAny(fault.HTTPFault, faultConfig(f)) };
}

export function retryPolicy(retries: HTTPRetry | undefined): routeComponents.RetryPolicy | undefined {
  if (retries && (retries.attempts ?? 0) <= 0) return undefined;
  return routeComponents.RetryPolicy.fromPartial({
    retryOn: retries?.retryOn || DEFAULT_RETRY_ON,
    numRetries: retries?.attempts ?? DEFAULT_RETRY_ATTEMPTS,
    perTryTimeout: parseDuration(retries?.perTryTimeout),
  });
}

/** The hash policy of a destination whose DestinationRule asks for consistent hashing. */
function hashPolicies(dr: ConfigEntry<DestinationRuleSpec> | undefined, subset: string) {
  const lb =
    dr?.spec.subsets?.find((s) => s.name === subset)?.trafficPolicy?.loadBalancer ??
    dr?.spec.trafficPolicy?.loadBalancer;
  const ch = lb?.consistentHash;
  if (!ch) return [];
  if (ch.httpHeaderName) return [{ header: { headerName: ch.httpHeaderName } }];
  if (ch.httpCookie) return [{ cookie: { name: ch.httpCookie.name, path: '', attributes: [] } }];
  if (ch.useSourceIp) return [{ connectionProperties: { sourceIp: true } }];
  if (ch.httpQueryParameterName) return [{ queryParameter: { name: ch.httpQueryParameterName } }];
  return [];
}

interface Ctx {
  push: PushContext;
  proxy: Proxy;
  service: Service;
  port: number;
}

function destinationPort(ctx: Ctx, host: string, port: number | undefined): number {
  if (port) return port;
  const svc = ctx.push.service(host);
  if (svc && svc.ports.length === 1) return svc.ports[0].port;
  return ctx.port;
}

function routeAction(ctx: Ctx, vs: ConfigEntry<VirtualServiceSpec>, http: HTTPRoute): RouteAction {
  const dests = (http.route ?? []).map((d) => {
    const host = resolveHost(d.destination.host, vs.namespace, ctx.push.domainSuffix);
    const port = destinationPort(ctx, host, d.destination.port?.number);
    return { host, subset: d.destination.subset ?? '', port, weight: d.weight };
  });
  const anyWeight = dests.some((d) => d.weight !== undefined);
  let weighted = dests
    .map((d) => ({ ...d, weight: dests.length === 1 ? 100 : anyWeight ? (d.weight ?? 0) : 1 }))
    .filter((d) => d.weight > 0);
  if (weighted.length === 0) weighted = dests.map((d) => ({ ...d, weight: 1 }));
  const action: Partial<RouteAction> = {};
  if (weighted.length === 1) {
    action.cluster = clusterName(weighted[0].host, weighted[0].port, weighted[0].subset);
  } else {
    action.weightedClusters = routeComponents.WeightedCluster.fromPartial({
      clusters: weighted.map((d) => ({ name: clusterName(d.host, d.port, d.subset), weight: d.weight })),
    });
  }
  const timeout = parseDuration(http.timeout);
  if (timeout && (timeout.seconds > 0 || timeout.nanos > 0)) {
    action.timeout = timeout;
    // What gRPC reads (gRFC A31): the deadline a call gets at most.
    action.maxStreamDuration = { maxStreamDuration: timeout, grpcTimeoutHeaderMax: timeout };
  } else {
    action.timeout = { seconds: 0, nanos: 0 };
  }
  const retry = retryPolicy(http.retries);
  if (retry) action.retryPolicy = retry;
  // Consistent hashing is per destination; Istio takes the first destination's policy.
  const first = weighted[0];
  action.hashPolicy = hashPolicies(
    ctx.push.destinationRuleFor(first.host, ctx.proxy.namespace),
    first.subset,
  ).map((h) => routeComponents.RouteAction_HashPolicy.fromPartial(h));
  return routeComponents.RouteAction.fromPartial(action);
}

/** Whether an Istio match applies to this proxy and port (port, sourceLabels, sourceNamespace). */
function matchApplies(ctx: Ctx, m: HTTPMatchRequest | undefined): boolean {
  if (!m) return true;
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceLabels && !selectorMatches(m.sourceLabels, ctx.proxy.labels)) return false;
  if (m.sourceNamespace && m.sourceNamespace !== ctx.proxy.namespace) return false;
  return true;
}

function isCatchAll(r: Route): boolean {
  const m = r.match!;
  return (m.prefix === '/' || m.prefix === '') && m.headers.length === 0 && m.queryParameters.length === 0;
}

/**
 * The routes of one service port from its VirtualServices, in order: one Envoy route per Istio match (its
 * matches are ORed), with the destinations, timeout, retries and fault of the HTTP route. Routing stops at the
 * first catch-all. Without a VirtualService, one default route to the service's default cluster.
 */
export function buildRoutes(push: PushContext, proxy: Proxy, service: Service, port: number): Route[] {
  const ctx: Ctx = { push, proxy, service, port };
  const virtualServices = push.virtualServicesFor(service.hostname, proxy.namespace);
  if (virtualServices.length === 0) {
    return [
      routeComponents.Route.fromPartial({
        name: 'default',
        match: { prefix: '/' },
        route: {
          cluster: clusterName(service.hostname, port),
          timeout: { seconds: 0, nanos: 0 },
          retryPolicy: retryPolicy(undefined),
          hashPolicy: hashPolicies(push.destinationRuleFor(service.hostname, proxy.namespace), '').map((h) =>
            routeComponents.RouteAction_HashPolicy.fromPartial(h),
          ),
        },
        typedPerFilterConfig: faultOverride(undefined),
      }),
    ];
  }
  const out: Route[] = [];
  for (const vs of virtualServices) {
    for (const [i, http] of (vs.spec.http ?? []).entries()) {
      if (!http.route?.length) continue;
      const matches = http.match?.length ? http.match : [undefined];
      const faultCfg = faultOverride(http.fault);
      for (const m of matches) {
        if (!matchApplies(ctx, m)) continue;
        const r = routeComponents.Route.fromPartial({
          name: m?.name ? `${http.name ?? ''}.${m.name}` : (http.name ?? `${vs.namespace}/${vs.name}.${i}`),
          match: routeMatch(m),
          route: routeAction(ctx, vs, http),
          typedPerFilterConfig: faultCfg,
        });
        out.push(r);
        if (isCatchAll(r)) return out;
      }
    }
  }
  return out;
}

/**
 * The domains of a service's virtual host: its hostname and, relative to the proxy's namespace, its short names,
 * each with and without the port, and its addresses with the port (Istio's generateVirtualHostDomains).
 */
export function virtualHostDomains(
  push: PushContext,
  proxy: Proxy,
  service: Service,
  port: number,
): string[] {
  const names = new Set<string>([service.hostname]);
  const suffix = `.svc.${push.domainSuffix}`;
  if (service.hostname.endsWith(suffix)) {
    const base = service.hostname.slice(0, -suffix.length); // "name.namespace"
    names.add(`${base}.svc`);
    names.add(base);
    if (base.endsWith(`.${proxy.namespace}`)) names.add(base.slice(0, -proxy.namespace.length - 1));
  }
  const out: string[] = [];
  for (const n of names) out.push(n, `${n}:${port}`);
  for (const a of service.addresses) out.push(hostPort(a, port));
  return out;
}

/**
 * RDS for proxyless gRPC: one RouteConfiguration per requested "<host>:<port>", holding one virtual host. Routes
 * with query-parameter matches are left out: a gRPC request has no query string, and grpc-js-xds ignores the
 * matcher (it would match every call), so such a route could only misroute. Its version carries the listener's
 * HTTP filter chain, so that a filter change re-sends the route (a client applies per-route filter config only
 * with the route).
 */
export function buildGrpcRoutes(request: GenerateRequest): ResourceEntry[] {
  const { push, proxy, names } = request;
  const wanted = names
    ? sortedNames(names)
    : push
        .servicesFor(proxy.namespace)
        .flatMap((s) => s.ports.map((p) => hostPort(s.hostname, p.port)))
        .sort();
  const out: ResourceEntry[] = [];
  for (const name of wanted) {
    const parsed = splitHostPort(name);
    if (!parsed?.port) continue;
    const service = push.service(parsed.host);
    const port = parsed.port;
    if (!service || !service.ports.some((p) => p.port === port)) continue;
    const key = `${push.hostVersion(service.hostname)}|${proxy.namespace}|${labelsKey(proxy)}`;
    const resource = encoded(request, TypeUrl.RouteConfiguration, name, key, () => {
      const routes = buildRoutes(push, proxy, service, port).filter(
        (r) => r.match!.queryParameters.length === 0,
      );
      return packAny(
        route.RouteConfiguration,
        route.RouteConfiguration.fromPartial({
          name,
          virtualHosts: [{ name, domains: virtualHostDomains(push, proxy, service, port), routes }],
        }),
      );
    });
    out.push({ name, resource, version: contentVersion(resource) });
  }
  return out;
}

import { httpConnectionManager, tcpProxy, unpackAny } from '@flotilla/proto';
import type { listener, listenerComponents, route } from '@flotilla/proto';
import type { EnvoyConfig } from './envoy-config';
import { selectFilterChain } from './filter-chain';
import type { ConnectionInfo } from './filter-chain';
import { hostWithoutPort, selectRoute, selectVirtualHost } from './http-routing';
import type { HttpRequest } from './http-routing';

/**
 * A connection, and the HTTP request on it, as a workload (or a peer, for inbound) sends it. By default it is an
 * outbound call captured by iptables to virtualOutbound (15001), as in Istio's capture model.
 */
export interface SimulatedRequest {
  /** The original destination: the address and port the caller dialled. */
  destinationIp: string;
  port: number;
  sourceIp?: string;
  sourcePort?: number;
  /**
   * `outbound`: captured to the listener on `capturePort` (15001); `inbound`: captured to virtualInbound (15006);
   * `direct`: reaches whichever listener binds the address itself.
   */
  capture?: 'outbound' | 'inbound' | 'direct';
  capturePort?: number;
  /** `http` (plaintext HTTP/1.1 unless `http2`), `tls` (a ClientHello with `sni` and `alpn`) or plain `tcp`. */
  protocol?: 'http' | 'tcp' | 'tls';
  http2?: boolean;
  sni?: string;
  alpn?: string[];
  /** :authority; defaults to "<destinationIp>:<port>". */
  host?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
}

/** What Envoy would do with the request: each stage it got through, then where it sent it or why it stopped. */
export interface SimulationResult {
  /** The listener the connection arrived on (virtualOutbound, when captured). */
  acceptedBy?: string;
  /** The listener whose filter chains handled it (after the original-destination hand-off). */
  listener?: string;
  filterChain?: string;
  /** The network filter that decided: HCM or tcp_proxy. */
  networkFilter?: 'http_connection_manager' | 'tcp_proxy';
  routeConfig?: string;
  virtualHost?: string;
  route?: string;
  cluster?: string;
  /** For weighted_clusters: every cluster and its weight. */
  weightedClusters?: { name: string; weight: number }[];
  directResponse?: { status: number; body?: string };
  redirect?: { host?: string; path?: string; status: number };
  /** Why the request went nowhere, at the first stage that failed. */
  error?: string;
  /** Clusters the chosen route or proxy names that CDS does not have (Envoy answers 503 / closes). */
  unknownClusters?: string[];
}

const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';
const HTTP_INSPECTOR = 'envoy.filters.listener.http_inspector';

function listenerAddress(l: listener.Listener): { ip: string; port: number } | undefined {
  const s = l.address?.socketAddress;
  return s ? { ip: s.address, port: s.portValue ?? 0 } : undefined;
}

function hasListenerFilter(l: listener.Listener, name: string): boolean {
  const typeSuffix = name.split('.').pop()!;
  return l.listenerFilters.some(
    (f) => f.name === name || (f.typedConfig?.typeUrl ?? '').includes(`.${typeSuffix}.`),
  );
}

/** Envoy's lookup of a listener by address: exact address and port first, then the wildcard one of that port. */
function listenerFor(
  config: EnvoyConfig,
  ip: string,
  port: number,
  bound: boolean,
): listener.Listener | undefined {
  const eligible = config.listeners.filter((l) => !bound || l.bindToPort !== false);
  const at = (address: string) =>
    eligible.find((l) => {
      const a = listenerAddress(l);
      return a?.ip === address && a.port === port;
    });
  return at(ip) ?? at(ip.includes(':') ? '::' : '0.0.0.0');
}

function connectionOn(l: listener.Listener, req: SimulatedRequest): ConnectionInfo {
  const protocol = req.protocol ?? 'http';
  const conn: ConnectionInfo = {
    destinationIp: req.destinationIp,
    destinationPort: req.port,
    sourceIp: req.sourceIp ?? '10.0.0.1',
    sourcePort: req.sourcePort ?? 43210,
    transportProtocol: 'raw_buffer',
    applicationProtocols: [],
  };
  if (protocol === 'tls' && hasListenerFilter(l, TLS_INSPECTOR)) {
    conn.transportProtocol = 'tls';
    conn.serverName = req.sni;
    conn.applicationProtocols = req.alpn ?? [];
  } else if (protocol === 'http' && hasListenerFilter(l, HTTP_INSPECTOR)) {
    conn.applicationProtocols = [req.http2 ? 'h2c' : 'http/1.1'];
  }
  return conn;
}

function typeName(any: { typeUrl: string } | undefined): string {
  return any ? any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1) : '';
}

function chainLabel(chain: listenerComponents.FilterChain, index: number, isDefault: boolean): string {
  if (chain.name) return chain.name;
  return isDefault ? 'default_filter_chain' : `#${index}`;
}

/** The route configuration an HCM uses: inline, or the RDS one it names. */
function routeConfigOf(
  hcm: httpConnectionManager.HttpConnectionManager,
  config: EnvoyConfig,
): route.RouteConfiguration | string {
  if (hcm.routeConfig) return hcm.routeConfig;
  const name = hcm.rds?.routeConfigName;
  if (name === undefined) return 'HTTP connection manager has neither route_config nor rds';
  return (
    config.routes.find((r) => r.name === name) ?? `RDS route configuration ${JSON.stringify(name)} is missing`
  );
}

/** The :authority the HCM matches virtual hosts on, after its strip_*_host_port and strip_trailing_host_dot. */
function hostForMatching(
  hcm: httpConnectionManager.HttpConnectionManager,
  authority: string,
  port: number,
): string {
  let host = authority;
  const bare = hostWithoutPort(host);
  if (hcm.stripAnyHostPort || (hcm.stripMatchingHostPort && host === `${bare}:${port}`)) host = bare;
  if (hcm.stripTrailingHostDot) {
    const name = hostWithoutPort(host);
    if (name.endsWith('.')) host = name.slice(0, -1) + host.slice(name.length);
  }
  return host;
}

function routeHttp(
  hcm: httpConnectionManager.HttpConnectionManager,
  config: EnvoyConfig,
  req: SimulatedRequest,
  result: SimulationResult,
): void {
  const rc = routeConfigOf(hcm, config);
  if (typeof rc === 'string') {
    result.error = rc;
    return;
  }
  result.routeConfig = rc.name;
  const http: HttpRequest = {
    authority: req.host ?? `${req.destinationIp}:${req.port}`,
    path: req.path ?? '/',
    method: req.method ?? 'GET',
    scheme: 'http',
    headers: req.headers ?? {},
  };
  const vh = selectVirtualHost(rc, hostForMatching(hcm, http.authority, req.port));
  if (!vh) {
    result.error = `no virtual host of ${rc.name} matches host ${http.authority}`;
    return;
  }
  result.virtualHost = vh.name;
  const chosen = selectRoute(vh, http);
  if (!chosen) {
    result.error = `no route of virtual host ${vh.name} matches ${http.method} ${http.path}`;
    return;
  }
  const r = chosen.route;
  result.route = r.name || `#${chosen.index}`;
  if (r.directResponse) {
    result.directResponse = { status: r.directResponse.status };
    const body = r.directResponse.body;
    if (body?.inlineString !== undefined) result.directResponse.body = body.inlineString;
  } else if (r.redirect) {
    result.redirect = {
      host: r.redirect.hostRedirect || undefined,
      path: r.redirect.pathRedirect ?? r.redirect.prefixRewrite,
      status: [301, 302, 303, 307, 308][r.redirect.responseCode] ?? 301,
    };
  } else if (r.route?.cluster) {
    result.cluster = r.route.cluster;
  } else if (r.route?.weightedClusters) {
    result.weightedClusters = r.route.weightedClusters.clusters.map((c) => ({
      name: c.name,
      weight: c.weight ?? 0,
    }));
  } else if (r.route?.clusterHeader) {
    const value = http.headers[r.route.clusterHeader.toLowerCase()];
    if (value) result.cluster = value;
    else result.error = `cluster_header ${r.route.clusterHeader} is not in the request`;
  } else {
    result.error = `route ${result.route} has no action this simulator follows`;
  }
}

function proxyTcp(tcp: tcpProxy.TcpProxy, result: SimulationResult): void {
  if (tcp.cluster) result.cluster = tcp.cluster;
  else if (tcp.weightedClusters) {
    result.weightedClusters = tcp.weightedClusters.clusters.map((c) => ({ name: c.name, weight: c.weight }));
  } else result.error = 'tcp_proxy names no cluster';
}

/**
 * Which listener, filter chain, route configuration, virtual host, route and cluster Envoy would choose for a
 * request, given its LDS/RDS/CDS — in the spirit of Istio's pilot/pkg/simulation. It follows Envoy's matching
 * rules (original-destination hand-off, filter chain match order, domain and route matching) and reports the
 * first stage where nothing matches. Runtime fractions, TLS context matches and Lua-like extensions are not
 * evaluated: a route with a runtime fraction is treated as always matching.
 */
export function simulate(config: EnvoyConfig, req: SimulatedRequest): SimulationResult {
  const result: SimulationResult = {};
  const capture = req.capture ?? 'outbound';
  let l: listener.Listener | undefined;
  if (capture === 'direct') {
    l = listenerFor(config, req.destinationIp, req.port, true);
    if (!l) return { error: `no listener binds ${req.destinationIp}:${req.port}` };
    result.acceptedBy = l.name;
  } else {
    const port = req.capturePort ?? (capture === 'outbound' ? 15001 : 15006);
    const captured = config.listeners.find((c) => listenerAddress(c)?.port === port);
    if (!captured) return { error: `no listener on capture port ${port}` };
    result.acceptedBy = captured.name;
    l = captured;
    // use_original_dst: Envoy hands the connection to the listener of its original destination, if any.
    if (captured.useOriginalDst) l = listenerFor(config, req.destinationIp, req.port, false) ?? captured;
  }
  result.listener = l.name;
  const choice = selectFilterChain(l, connectionOn(l, req));
  if (!choice.chain) return { ...result, error: choice.reason };
  result.filterChain = chainLabel(choice.chain, choice.index, choice.isDefault);
  const decisive = choice.chain.filters.find((f) =>
    ([httpConnectionManager.HttpConnectionManager.$type, tcpProxy.TcpProxy.$type] as string[]).includes(
      typeName(f.typedConfig),
    ),
  );
  if (!decisive?.typedConfig)
    return { ...result, error: `filter chain ${result.filterChain} has no HCM or tcp_proxy` };
  if (typeName(decisive.typedConfig) === tcpProxy.TcpProxy.$type) {
    result.networkFilter = 'tcp_proxy';
    proxyTcp(unpackAny(decisive.typedConfig, tcpProxy.TcpProxy), result);
  } else {
    result.networkFilter = 'http_connection_manager';
    if ((req.protocol ?? 'http') !== 'http') {
      return {
        ...result,
        error: `filter chain ${result.filterChain} expects HTTP but the connection is ${req.protocol}`,
      };
    }
    routeHttp(
      unpackAny(decisive.typedConfig, httpConnectionManager.HttpConnectionManager),
      config,
      req,
      result,
    );
  }
  const known = new Set(config.clusters.map((c) => c.name));
  const named = [
    ...(result.cluster ? [result.cluster] : []),
    ...(result.weightedClusters ?? []).map((c) => c.name),
  ];
  const unknown = named.filter((n) => !known.has(n));
  if (unknown.length > 0) result.unknownClusters = unknown;
  return result;
}

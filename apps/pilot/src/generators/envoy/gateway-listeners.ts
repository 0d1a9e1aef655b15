// LDS for gateways: one listener per server port, "<bind>_<port>" (0.0.0.0 unless the server binds an address),
// which the gateway binds itself (no iptables capture). Plaintext HTTP servers share one HCM routed by
// "http.<port>"; each terminated HTTPS server gets a filter chain matching its hosts by SNI, with its TLS
// context and route configuration; PASSTHROUGH servers route by SNI to tcp_proxy as the VirtualServices' tls
// routes say; AUTO_PASSTHROUGH servers route Istio's "outbound_.<port>_.<subset>_.<host>" SNI to that cluster;
// TLS servers the gateway terminates (SIMPLE, MUTUAL) and TCP servers proxy by the VirtualServices' tcp routes.
import {
  configSource,
  core,
  httpConnectionManager,
  listener,
  listenerComponents,
  packAny,
  tcpProxy,
  tlsInspector,
} from '@flotilla/proto';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { clusterName } from '../model';
import type { Proxy, PushContext } from '../model';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import {
  TCP_PROXY_FILTER,
  hcmFilter,
  httpFilter,
  httpFilterNamesFor,
  listenerName,
  outboundPorts,
  socketAddress,
} from './common';
import {
  gatewayPorts,
  hostIntersection,
  isHttpsServer,
  isPlainHttpServer,
  virtualServicesForGateways,
} from './gateway-servers';
import type { BoundServer, GatewayPort } from './gateway-servers';
import { httpRouteName, httpsRouteName } from './gateway-routes';
import { destinationCluster, resolveGatewayName } from './http-route';
import type { RouteContext } from './http-route';
import type { HTTPRouteDestination } from '../istio-types';
import { downstreamTransportSocket, istioMutualSni } from './tls';

const ADS_SOURCE = { ads: {}, resourceApiVersion: configSource.ApiVersion.V3 };
const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';

type FilterChain = Parameters<typeof listenerComponents.FilterChain.fromPartial>[0];

function gatewayHcm(push: PushContext, routeName: string, statPrefix: string, gateways: ReadonlySet<string>) {
  return hcmFilter(
    httpConnectionManager.HttpConnectionManager.fromPartial({
      statPrefix,
      rds: { configSource: ADS_SOURCE, routeConfigName: routeName },
      httpFilters: httpFilterNamesFor(push, virtualServicesForGateways(push, gateways)).map(httpFilter),
      // The gateway is the edge: the client's address is the connection's peer.
      useRemoteAddress: true,
    }),
  );
}

/** tcp_proxy to one cluster, or split by weight among several. */
function tcpProxyTo(
  statPrefix: string,
  clusters: { name: string; weight: number }[],
): listenerComponents.Filter {
  const config =
    clusters.length === 1
      ? { statPrefix, cluster: clusters[0].name }
      : { statPrefix, weightedClusters: { clusters } };
  return listenerComponents.Filter.fromPartial({
    name: TCP_PROXY_FILTER,
    typedConfig: packAny(tcpProxy.TcpProxy, tcpProxy.TcpProxy.fromPartial(config)),
  });
}

function weightedDestinations(ctx: RouteContext, namespace: string, route: HTTPRouteDestination[]) {
  const lone = route.length === 1;
  return route
    .map((d) => ({
      name: destinationCluster(ctx, d.destination, namespace).name,
      weight: lone ? 100 : (d.weight ?? 0),
    }))
    .filter((d) => d.weight > 0);
}

/** PASSTHROUGH: a filter chain per tls route of a bound VirtualService, matched by the SNI hosts it shares with the server. */
function passthroughChains(
  push: PushContext,
  ctx: RouteContext,
  s: BoundServer,
  port: number,
): FilterChain[] {
  const chains: FilterChain[] = [];
  for (const vs of virtualServicesForGateways(push, new Set([s.gateway]))) {
    for (const tlsRoute of vs.spec.tls ?? []) {
      for (const m of tlsRoute.match ?? []) {
        if (m.port !== undefined && m.port !== port) continue;
        if (m.gateways?.length && !m.gateways.some((g) => resolveGatewayName(g, vs.namespace) === s.gateway))
          continue;
        const serverNames = m.sniHosts.flatMap((sni) =>
          s.hosts.flatMap((h) => {
            const both = hostIntersection(sni, h);
            return both === undefined ? [] : [both];
          }),
        );
        const clusters = weightedDestinations(ctx, vs.namespace, tlsRoute.route ?? []);
        if (serverNames.length === 0 || clusters.length === 0) continue;
        chains.push({
          name: `${listenerName(s.server.bind || '0.0.0.0', port)}.${serverNames.join(',')}`,
          filterChainMatch: { serverNames: [...new Set(serverNames)], transportProtocol: 'tls' },
          filters: [tcpProxyTo(`outbound_${serverNames[0]}_${port}`, clusters)],
        });
      }
    }
  }
  return chains;
}

/**
 * AUTO_PASSTHROUGH: a filter chain per cluster of every service the server's hosts cover, matched by Istio's
 * cluster SNI ("outbound_.<port>_.<subset>_.<host>", what an ISTIO_MUTUAL client sends), proxied to that cluster
 * with the client's TLS untouched.
 */
function autoPassthroughChains(push: PushContext, proxy: Proxy, s: BoundServer): FilterChain[] {
  const chains: FilterChain[] = [];
  for (const { service, port } of outboundPorts(push, proxy)) {
    if (!s.hosts.some((h) => hostIntersection(service.hostname, h) !== undefined)) continue;
    const dr = push.destinationRuleFor(service.hostname, proxy.namespace);
    for (const subset of ['', ...(dr?.spec.subsets ?? []).map((x) => x.name)]) {
      const cluster = clusterName(service.hostname, port, subset);
      const sni = istioMutualSni(cluster);
      chains.push({
        name: sni,
        filterChainMatch: { serverNames: [sni], transportProtocol: 'tls' },
        filters: [tcpProxyTo(cluster, [{ name: cluster, weight: 100 }])],
      });
    }
  }
  return chains;
}

/** The tcp_proxy of the first tcp route of a VirtualService bound to `servers` that applies to the port. */
function tcpRouteFilter(
  push: PushContext,
  ctx: RouteContext,
  servers: BoundServer[],
  port: number,
): listenerComponents.Filter | undefined {
  const gateways = new Set(servers.map((s) => s.gateway));
  for (const vs of virtualServicesForGateways(push, gateways)) {
    for (const tcpRoute of vs.spec.tcp ?? []) {
      const applies =
        !tcpRoute.match?.length ||
        tcpRoute.match.some(
          (m) =>
            (m.port === undefined || m.port === port) &&
            (!m.gateways?.length ||
              m.gateways.some((g) => gateways.has(resolveGatewayName(g, vs.namespace)))),
        );
      const clusters = weightedDestinations(ctx, vs.namespace, tcpRoute.route ?? []);
      if (applies && clusters.length) return tcpProxyTo(`outbound_${port}`, clusters);
    }
  }
  return undefined;
}

/** SNI names of a terminated server: its hosts, none (match every name) when one is "*". */
function serverNames(s: BoundServer): string[] {
  return s.hosts.includes('*') ? [] : s.hosts;
}

function gatewayListener(push: PushContext, proxy: Proxy, p: GatewayPort): listener.Listener {
  const name = listenerName(p.bind, p.port);
  const ctx: RouteContext = { push, proxy, port: p.port, gateways: new Set(p.servers.map((s) => s.gateway)) };
  const chains: FilterChain[] = [];
  const plain = p.servers.filter((s) => isPlainHttpServer(s.server));
  if (plain.length) {
    const gateways = new Set(plain.map((s) => s.gateway));
    chains.push({ name, filters: [gatewayHcm(push, httpRouteName(p.port), `outbound_${name}`, gateways)] });
  }
  for (const s of p.servers) {
    if (isHttpsServer(s.server)) {
      const routeName = httpsRouteName(p.port, s);
      chains.push({
        name: routeName,
        filterChainMatch: { serverNames: serverNames(s), transportProtocol: 'tls' },
        transportSocket: downstreamTransportSocket(s.server.tls ?? {}),
        filters: [gatewayHcm(push, routeName, `outbound_${name}`, new Set([s.gateway]))],
      });
    } else if (s.server.tls?.mode === 'PASSTHROUGH') chains.push(...passthroughChains(push, ctx, s, p.port));
    else if (s.server.tls?.mode === 'AUTO_PASSTHROUGH') chains.push(...autoPassthroughChains(push, proxy, s));
    else if (s.server.tls && s.server.port.protocol.toUpperCase() === 'TLS') {
      // TLS terminated by the gateway, then proxied as TCP by the tcp routes.
      const filter = tcpRouteFilter(push, ctx, [s], p.port);
      if (filter) {
        chains.push({
          name: `tls.${p.port}.${s.server.port.name ?? ''}.${s.gatewayName}.${s.gatewayNamespace}`,
          filterChainMatch: { serverNames: serverNames(s), transportProtocol: 'tls' },
          transportSocket: downstreamTransportSocket(s.server.tls),
          filters: [filter],
        });
      }
    }
  }
  const tcpServers = p.servers.filter((s) => s.server.port.protocol.toUpperCase() === 'TCP');
  const tcpFilter = tcpServers.length ? tcpRouteFilter(push, ctx, tcpServers, p.port) : undefined;
  if (tcpFilter) chains.push({ name: `tcp.${p.port}`, filters: [tcpFilter] });
  const usesTls = chains.some((c) => c.filterChainMatch?.transportProtocol === 'tls');
  return listener.Listener.fromPartial({
    name,
    address: socketAddress(p.bind, p.port),
    trafficDirection: core.TrafficDirection.OUTBOUND,
    listenerFilters: usesTls
      ? [
          {
            name: TLS_INSPECTOR,
            typedConfig: packAny(tlsInspector.TlsInspector, tlsInspector.TlsInspector.fromPartial({})),
          },
        ]
      : [],
    filterChains: chains,
  });
}

/** LDS for a gateway proxy: a listener per server port that has at least one filter chain. */
export function buildGatewayListeners(request: GenerateRequest, key: string): ResourceEntry[] {
  const { push, proxy } = request;
  const out: ResourceEntry[] = [];
  for (const p of gatewayPorts(push, proxy)) {
    const l = gatewayListener(push, proxy, p);
    if (l.filterChains.length === 0) continue;
    const name = l.name;
    out.push({
      name,
      resource: encoded(request, TypeUrl.Listener, `gateway:${name}`, key, () =>
        packAny(listener.Listener, l),
      ),
    });
  }
  return out;
}

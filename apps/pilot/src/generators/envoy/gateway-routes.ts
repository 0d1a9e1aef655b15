// RDS for gateways: "http.<port>" for a port's plaintext HTTP servers and "https.<port>.<portName>.<gateway>.<ns>"
// for each terminated HTTPS server, with a virtual host per host a bound VirtualService shares with the servers.
import { packAny, route, routeComponents } from '@flotilla/proto';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import type { Proxy, PushContext } from '../model';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import { effectiveHttpRoutes } from './delegate';
import {
  gatewayPorts,
  hostIntersection,
  isHttpsServer,
  isPlainHttpServer,
  virtualServiceHosts,
  virtualServicesForGateways,
} from './gateway-servers';
import type { BoundServer } from './gateway-servers';
import { translateHttpRoutes } from './http-route';
import type { RouteContext } from './http-route';

/** Istio's route configuration name for an HTTPS server. */
export function httpsRouteName(port: number, s: BoundServer): string {
  return `https.${port}.${s.server.port.name ?? ''}.${s.gatewayName}.${s.gatewayNamespace}`;
}

export function httpRouteName(port: number): string {
  return `http.${port}`;
}

/** A route configuration a gateway listener names, with the servers it serves. */
export interface GatewayRoutePlan {
  name: string;
  port: number;
  servers: BoundServer[];
}

/** Every route configuration of the gateway: one per plaintext HTTP port, one per HTTPS server. */
export function gatewayRoutePlans(push: PushContext, proxy: Proxy): GatewayRoutePlan[] {
  const out: GatewayRoutePlan[] = [];
  for (const p of gatewayPorts(push, proxy)) {
    const plain = p.servers.filter((s) => isPlainHttpServer(s.server));
    if (plain.length) out.push({ name: httpRouteName(p.port), port: p.port, servers: plain });
    for (const s of p.servers.filter((s) => isHttpsServer(s.server))) {
      out.push({ name: httpsRouteName(p.port, s), port: p.port, servers: [s] });
    }
  }
  return out;
}

/** Istio's virtual host for a route configuration no VirtualService fills: every request answered 404. */
function blackholeVirtualHost(port: number): routeComponents.VirtualHost {
  return routeComponents.VirtualHost.fromPartial({
    name: `blackhole:${port}`,
    domains: ['*'],
    routes: [{ name: 'default', match: { prefix: '/' }, directResponse: { status: 404 } }],
  });
}

/**
 * One route configuration of a gateway: for every VirtualService bound to the servers' gateways, a virtual host
 * "<host>:<port>" per host it shares with the servers (the more specific of the two), with its routes as they
 * apply on this gateway and port. A server with httpsRedirect makes its virtual hosts redirect to HTTPS (Envoy's
 * require_tls ALL). The first VirtualService to claim a host keeps it, as Envoy rejects duplicate domains.
 */
export function gatewayRouteConfiguration(
  push: PushContext,
  proxy: Proxy,
  plan: GatewayRoutePlan,
): route.RouteConfiguration {
  const gateways = new Set(plan.servers.map((s) => s.gateway));
  const ctx: RouteContext = { push, proxy, port: plan.port, gateways };
  const virtualHosts: routeComponents.VirtualHost[] = [];
  const claimed = new Set<string>();
  for (const vs of virtualServicesForGateways(push, gateways)) {
    const routes = translateHttpRoutes(ctx, effectiveHttpRoutes(push, vs));
    if (routes.length === 0) continue;
    for (const vsHost of virtualServiceHosts(push, vs)) {
      for (const s of plan.servers) {
        for (const serverHost of s.hosts) {
          const host = hostIntersection(vsHost, serverHost);
          if (host === undefined || claimed.has(host)) continue;
          claimed.add(host);
          virtualHosts.push(
            routeComponents.VirtualHost.fromPartial({
              name: `${host}:${plan.port}`,
              domains: host === '*' ? ['*'] : [host, `${host}:${plan.port}`],
              routes,
              requireTls: s.server.tls?.httpsRedirect
                ? routeComponents.VirtualHost_TlsRequirementType.ALL
                : routeComponents.VirtualHost_TlsRequirementType.NONE,
            }),
          );
        }
      }
    }
  }
  if (virtualHosts.length === 0) virtualHosts.push(blackholeVirtualHost(plan.port));
  return route.RouteConfiguration.fromPartial({ name: plan.name, virtualHosts, validateClusters: false });
}

/** RDS for a gateway proxy. */
export function buildGatewayRoutes(request: GenerateRequest, key: string): ResourceEntry[] {
  const { push, proxy, names } = request;
  const out: ResourceEntry[] = [];
  for (const plan of gatewayRoutePlans(push, proxy)) {
    if (names && !names.has(plan.name)) continue;
    const resource = encoded(request, TypeUrl.RouteConfiguration, `gateway:${plan.name}`, key, () =>
      packAny(route.RouteConfiguration, gatewayRouteConfiguration(push, proxy, plan)),
    );
    out.push({ name: plan.name, resource });
  }
  return out;
}

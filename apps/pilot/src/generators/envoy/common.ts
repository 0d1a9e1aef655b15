import {
  corsFilter,
  fault,
  httpConnectionManager,
  listenerComponents,
  packAny,
  router,
  tcpProxy,
} from '@flotilla/proto';
import { selectorMatches } from '@flotilla/registry';
import { scopedServices, sidecarKey } from './sidecar-scope';
import type { Protocol, Service } from '@flotilla/registry';
import type { ResourceEntry } from '@flotilla/xds';
import { FAULT_FILTER, ROUTER_FILTER } from '../listener';
import type { Proxy, PushContext } from '../model';
import { effectiveHttpRoutes } from './delegate';
import type { EnvoyVirtualServiceSpec } from './istio-networking';
import type { VirtualServiceSpec } from '../istio-types';
import type { ConfigEntry } from '../../config-store';
import type { ExtensionProvider } from './security-types';

/** Istio's well-known cluster and listener names and ports of the iptables capture model. */
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughClusterIpv4';
export const VIRTUAL_OUTBOUND = 'virtualOutbound';
export const VIRTUAL_INBOUND = 'virtualInbound';
export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;
/** The source address Envoy binds for inbound passthrough traffic, so that iptables does not capture it again. */
export const INBOUND_PASSTHROUGH_BIND_ADDRESS = '127.0.0.6';

export const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY_FILTER = 'envoy.filters.network.tcp_proxy';
export const CORS_FILTER = 'envoy.filters.http.cors';

export const DEFAULT_CONNECT_TIMEOUT = { seconds: 10, nanos: 0 };

export type OutboundTrafficPolicyMode = 'ALLOW_ANY' | 'REGISTRY_ONLY';

/** The parts of Istio's MeshConfig the Envoy generator reads. */
export interface MeshConfig {
  outboundTrafficPolicy: { mode: OutboundTrafficPolicyMode };
  /** What CUSTOM AuthorizationPolicies name as their provider (mixer's ext_authz service in Flotilla). */
  extensionProviders?: ExtensionProvider[];
}

export const DEFAULT_MESH_CONFIG: MeshConfig = { outboundTrafficPolicy: { mode: 'ALLOW_ANY' } };

const HTTP_PROTOCOLS: ReadonlySet<Protocol> = new Set<Protocol>(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);

/** Whether Envoy terminates HTTP on a port of this protocol (else it proxies TCP). */
export function isHttp(protocol: Protocol): boolean {
  return HTTP_PROTOCOLS.has(protocol);
}

/** Whether a port is proxied at all (UDP is not captured by Istio's iptables rules). */
export function isProxied(protocol: Protocol): boolean {
  return protocol !== 'UDP';
}

/** "<address>_<port>": Istio's name of a listener bound to an address and port. */
export function listenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** The names a request asks for, or everything when it subscribes by wildcard. */
export function selectNames(
  entries: ResourceEntry[],
  names: ReadonlySet<string> | undefined,
): ResourceEntry[] {
  return names ? entries.filter((e) => names.has(e.name)) : entries;
}

export function socketAddress(address: string, port: number) {
  return { socketAddress: { address, portValue: port } };
}

export function tcpProxyFilter(statPrefix: string, clusterName: string): listenerComponents.Filter {
  return listenerComponents.Filter.fromPartial({
    name: TCP_PROXY_FILTER,
    typedConfig: packAny(
      tcpProxy.TcpProxy,
      tcpProxy.TcpProxy.fromPartial({ statPrefix, cluster: clusterName }),
    ),
  });
}

export function httpFilter(name: string): httpConnectionManager.HttpFilter {
  const typedConfig =
    name === FAULT_FILTER
      ? packAny(fault.HTTPFault, fault.HTTPFault.fromPartial({}))
      : name === CORS_FILTER
        ? packAny(corsFilter.Cors, corsFilter.Cors.fromPartial({}))
        : packAny(router.Router, router.Router.fromPartial({}));
  return httpConnectionManager.HttpFilter.fromPartial({ name, typedConfig });
}

export function hcmFilter(hcm: httpConnectionManager.HttpConnectionManager): listenerComponents.Filter {
  return listenerComponents.Filter.fromPartial({
    name: HCM_FILTER,
    typedConfig: packAny(httpConnectionManager.HttpConnectionManager, hcm),
  });
}

/**
 * The HTTP filters of a listener serving these VirtualServices: CORS when a route has a corsPolicy, fault when one
 * injects faults (delegated routes included), and the router last — Istio's order.
 */
export function httpFilterNamesFor(
  push: PushContext,
  virtualServices: readonly ConfigEntry<VirtualServiceSpec>[],
): string[] {
  const routes = virtualServices.flatMap((vs) =>
    effectiveHttpRoutes(push, vs as ConfigEntry<EnvoyVirtualServiceSpec>).map((r) => r.http),
  );
  const names: string[] = [];
  if (routes.some((r) => r.corsPolicy)) names.push(CORS_FILTER);
  if (routes.some((r) => r.fault?.abort || r.fault?.delay)) names.push(FAULT_FILTER);
  names.push(ROUTER_FILTER);
  return names;
}

/** The HTTP filters of an outbound listener routing `hosts` (see httpFilterNamesFor). */
export function outboundHttpFilterNames(push: PushContext, proxy: Proxy, hosts: readonly string[]): string[] {
  return httpFilterNamesFor(
    push,
    hosts.flatMap((host) => push.virtualServicesFor(host, proxy.namespace)),
  );
}

/** A visible service port as the outbound side sees it. */
export interface OutboundPort {
  service: Service;
  port: number;
  protocol: Protocol;
}

/**
 * Every proxied port of every service the proxy knows (visible from its namespace, narrowed by its Sidecar's egress
 * hosts), in hostname then port order.
 */
export function outboundPorts(push: PushContext, proxy: Proxy): OutboundPort[] {
  return scopedServices(push, proxy).flatMap((service) =>
    [...service.ports]
      .sort((a, b) => a.port - b.port)
      .filter((p) => isProxied(p.protocol))
      .map((p) => ({ service, port: p.port, protocol: p.protocol })),
  );
}

/** A port of a service this proxy's workload serves: what its inbound side listens for. */
export interface InboundInstance {
  service: Service;
  servicePort: number;
  /** The workload port the traffic is delivered to (the endpoint's port). */
  targetPort: number;
  protocol: Protocol;
  labels: Record<string, string>;
}

/**
 * The service instances of the proxy's workload: endpoints at one of its IPs whose labels agree with the node's
 * LABELS (when it sends any, the endpoint's labels must all be among them), one per target port (the first service by hostname wins a shared target port).
 */
export function inboundInstances(push: PushContext, proxy: Proxy): InboundInstance[] {
  const ips = new Set(proxy.ips);
  const byPort = new Map<number, InboundInstance>();
  const services = [...push.registry.services()].sort((a, b) => a.hostname.localeCompare(b.hostname));
  for (const service of services) {
    for (const sp of [...service.ports].sort((a, b) => a.port - b.port)) {
      if (!isProxied(sp.protocol)) continue;
      for (const ep of push.endpoints(service.hostname, sp.port)) {
        if (!ips.has(ep.address) || byPort.has(ep.port)) continue;
        if (Object.keys(proxy.labels).length > 0 && !selectorMatches(ep.labels, proxy.labels)) continue;
        byPort.set(ep.port, {
          service,
          servicePort: sp.port,
          targetPort: ep.port,
          protocol: sp.protocol,
          labels: ep.labels,
        });
      }
    }
  }
  return [...byPort.values()].sort((a, b) => a.targetPort - b.targetPort);
}

/** The cache key prefix of everything the Envoy generator builds from the push and the proxy's namespace. */
export function outboundKey(push: PushContext, proxy: Proxy, mesh: MeshConfig): string {
  return `envoy|${push.version}|${proxy.namespace}|${mesh.outboundTrafficPolicy.mode}|${sidecarKey(push, proxy)}`;
}

/** The cache key of what also depends on the proxy's own workload (its IPs and labels). */
export function workloadKey(push: PushContext, proxy: Proxy, mesh: MeshConfig): string {
  return `${outboundKey(push, proxy, mesh)}|${proxy.ips.join(',')}|${JSON.stringify(proxy.labels)}`;
}

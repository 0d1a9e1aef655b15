import { configSource, core, httpConnectionManager, listener, packAny } from '@flotilla/proto';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { clusterName } from '../model';
import type { Proxy, PushContext } from '../model';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import {
  BLACKHOLE_CLUSTER,
  PASSTHROUGH_CLUSTER,
  VIRTUAL_OUTBOUND,
  VIRTUAL_OUTBOUND_PORT,
  hcmFilter,
  httpFilter,
  isHttp,
  listenerName,
  outboundHttpFilterNames,
  outboundKey,
  outboundPorts,
  socketAddress,
  tcpProxyFilter,
} from './common';
import type { MeshConfig, OutboundPort } from './common';

const ADS_SOURCE = { ads: {}, resourceApiVersion: configSource.ApiVersion.V3 };
const WILDCARD = '0.0.0.0';

/** The cluster the capture listener sends traffic for no known listener to: PassthroughCluster or BlackHoleCluster. */
export function catchAllCluster(mesh: MeshConfig): string {
  return mesh.outboundTrafficPolicy.mode === 'REGISTRY_ONLY' ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
}

/**
 * One outbound listener: its address and port, and either the HTTP service ports it routes (through the route
 * configuration named by the port) or the one TCP service port it proxies.
 */
export interface OutboundListenerPlan {
  name: string;
  address: string;
  port: number;
  http: OutboundPort[];
  tcp?: OutboundPort;
}

/**
 * Istio's outbound listener layout: one 0.0.0.0_<port> listener per port with HTTP services, all of them routed
 * by the route configuration "<port>"; a TCP service port gets "<vip>_<port>" when the service has a virtual IP,
 * else 0.0.0.0_<port> unless an HTTP listener (or an earlier TCP service, by hostname) already holds it.
 */
export function planOutboundListeners(push: PushContext, proxy: Proxy): OutboundListenerPlan[] {
  const byName = new Map<string, OutboundListenerPlan>();
  const ports = outboundPorts(push, proxy);
  for (const p of ports.filter((p) => isHttp(p.protocol))) {
    const name = listenerName(WILDCARD, p.port);
    let plan = byName.get(name);
    if (!plan) byName.set(name, (plan = { name, address: WILDCARD, port: p.port, http: [] }));
    plan.http.push(p);
  }
  for (const p of ports.filter((p) => !isHttp(p.protocol))) {
    const address = p.service.addresses[0] ?? WILDCARD;
    const name = listenerName(address, p.port);
    if (byName.has(name)) continue;
    byName.set(name, { name, address, port: p.port, http: [], tcp: p });
  }
  return [...byName.values()].sort((a, b) => a.port - b.port || a.name.localeCompare(b.name));
}

function outboundListener(push: PushContext, proxy: Proxy, plan: OutboundListenerPlan): listener.Listener {
  const statPrefix = `outbound_${plan.name}`;
  let filters;
  if (plan.tcp) {
    filters = [
      tcpProxyFilter(
        clusterName(plan.tcp.service.hostname, plan.tcp.port),
        clusterName(plan.tcp.service.hostname, plan.tcp.port),
      ),
    ];
  } else {
    const hosts = plan.http.map((p) => p.service.hostname);
    const hcm = httpConnectionManager.HttpConnectionManager.fromPartial({
      statPrefix,
      rds: { configSource: ADS_SOURCE, routeConfigName: String(plan.port) },
      httpFilters: outboundHttpFilterNames(push, proxy, hosts).map(httpFilter),
    });
    filters = [hcmFilter(hcm)];
  }
  return listener.Listener.fromPartial({
    name: plan.name,
    address: socketAddress(plan.address, plan.port),
    // Traffic reaches these through virtualOutbound's original-destination hand-off, never by binding.
    bindToPort: false,
    trafficDirection: core.TrafficDirection.OUTBOUND,
    filterChains: [{ name: plan.name, filters }],
  });
}

/**
 * virtualOutbound, 0.0.0.0:15001, where iptables redirects the workload's outbound connections: it hands each to
 * the listener of its original destination (use_original_dst), and proxies the rest to PassthroughCluster
 * (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY).
 */
export function virtualOutboundListener(mesh: MeshConfig): listener.Listener {
  const target = catchAllCluster(mesh);
  return listener.Listener.fromPartial({
    name: VIRTUAL_OUTBOUND,
    address: socketAddress(WILDCARD, VIRTUAL_OUTBOUND_PORT),
    useOriginalDst: true,
    trafficDirection: core.TrafficDirection.OUTBOUND,
    filterChains: [{ name: `${VIRTUAL_OUTBOUND}-catchall-tcp`, filters: [tcpProxyFilter(target, target)] }],
  });
}

/** The outbound side of LDS for an Envoy sidecar: virtualOutbound and one listener per planned address and port. */
export function buildOutboundListeners(request: GenerateRequest, mesh: MeshConfig): ResourceEntry[] {
  const { push, proxy } = request;
  const key = outboundKey(push, proxy, mesh);
  const out: ResourceEntry[] = [
    {
      name: VIRTUAL_OUTBOUND,
      resource: encoded(request, TypeUrl.Listener, VIRTUAL_OUTBOUND, key, () =>
        packAny(listener.Listener, virtualOutboundListener(mesh)),
      ),
    },
  ];
  for (const plan of planOutboundListeners(push, proxy)) {
    out.push({
      name: plan.name,
      resource: encoded(request, TypeUrl.Listener, plan.name, key, () =>
        packAny(listener.Listener, outboundListener(push, proxy, plan)),
      ),
    });
  }
  return out;
}

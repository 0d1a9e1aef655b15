import type { listenerComponents } from '@flotilla/proto';
import { core, httpConnectionManager, listener, originalDst, packAny, rbacFilter } from '@flotilla/proto';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { RBAC_DENY_FILTER, RBAC_FILTER, ROUTER_FILTER } from '../listener';
import type { Proxy, PushContext } from '../model';
import { inboundRbac } from '../rbac';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import { inboundClusterName } from './clusters';
import {
  INBOUND_PASSTHROUGH_CLUSTER,
  VIRTUAL_INBOUND,
  VIRTUAL_INBOUND_PORT,
  hcmFilter,
  httpFilter,
  inboundInstances,
  isHttp,
  socketAddress,
  tcpProxyFilter,
  workloadKey,
} from './common';
import type { InboundInstance, MeshConfig } from './common';

/** The HTTP filters of an inbound chain: RBAC from the AuthorizationPolicies (DENY before ALLOW), router last. */
function inboundHttpFilters(push: PushContext, proxy: Proxy, instance: InboundInstance) {
  const labels = { ...instance.labels, ...proxy.labels };
  const policies = push.authorizationPoliciesFor(instance.service.namespace, labels);
  const filters: httpConnectionManager.HttpFilter[] = [];
  for (const [name, action] of [
    [RBAC_DENY_FILTER, 'DENY'],
    [RBAC_FILTER, 'ALLOW'],
  ] as const) {
    const rules = inboundRbac(policies, action);
    if (!rules) continue;
    filters.push(
      httpConnectionManager.HttpFilter.fromPartial({
        name,
        typedConfig: packAny(rbacFilter.RBAC, rbacFilter.RBAC.fromPartial({ rules })),
      }),
    );
  }
  filters.push(httpFilter(ROUTER_FILTER));
  return filters;
}

/** The filter chain of one inbound port: matched by destination port, delivered to "inbound|<port>||". */
interface Chain {
  name: string;
  filterChainMatch?: { destinationPort: number };
  filters: listenerComponents.Filter[];
}

function inboundFilterChain(push: PushContext, proxy: Proxy, instance: InboundInstance): Chain {
  const cluster = inboundClusterName(instance.targetPort);
  const name = cluster;
  if (!isHttp(instance.protocol)) {
    return {
      name,
      filterChainMatch: { destinationPort: instance.targetPort },
      filters: [tcpProxyFilter(cluster, cluster)],
    };
  }
  const hcm = httpConnectionManager.HttpConnectionManager.fromPartial({
    statPrefix: `inbound_0.0.0.0_${instance.targetPort}`,
    routeConfig: {
      name: cluster,
      virtualHosts: [
        {
          name: `inbound|http|${instance.servicePort}`,
          domains: ['*'],
          routes: [
            {
              name: 'default',
              match: { prefix: '/' },
              // No timeout on the inbound side: the caller's sidecar enforces the VirtualService's.
              route: { cluster, timeout: { seconds: 0, nanos: 0 } },
            },
          ],
        },
      ],
      validateClusters: false,
    },
    httpFilters: inboundHttpFilters(push, proxy, instance),
  });
  return { name, filterChainMatch: { destinationPort: instance.targetPort }, filters: [hcmFilter(hcm)] };
}

/**
 * virtualInbound, 0.0.0.0:15006, where iptables redirects connections to the workload: one filter chain per
 * port the workload serves (HTTP through an HttpConnectionManager with its RBAC filters, TCP through tcp_proxy),
 * and a catch-all chain to InboundPassthroughClusterIpv4 for ports no service declares.
 */
export function virtualInboundListener(push: PushContext, proxy: Proxy): listener.Listener {
  const chains: Chain[] = inboundInstances(push, proxy).map((instance) =>
    inboundFilterChain(push, proxy, instance),
  );
  chains.push({
    name: `${VIRTUAL_INBOUND}-catchall-tcp`,
    filters: [tcpProxyFilter(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)],
  });
  return listener.Listener.fromPartial({
    name: VIRTUAL_INBOUND,
    address: socketAddress('0.0.0.0', VIRTUAL_INBOUND_PORT),
    trafficDirection: core.TrafficDirection.INBOUND,
    // iptables redirected the connection here: recover the address it was for, so filter chains can match the
    // workload port it was sent to.
    listenerFilters: [
      {
        name: 'envoy.filters.listener.original_dst',
        typedConfig: packAny(originalDst.OriginalDst, originalDst.OriginalDst.fromPartial({})),
      },
    ],
    filterChains: chains,
  });
}

/** The inbound side of LDS for an Envoy sidecar: virtualInbound. */
export function buildInboundListeners(request: GenerateRequest, mesh: MeshConfig): ResourceEntry[] {
  const { push, proxy } = request;
  const resource = encoded(request, TypeUrl.Listener, VIRTUAL_INBOUND, workloadKey(push, proxy, mesh), () =>
    packAny(listener.Listener, virtualInboundListener(push, proxy)),
  );
  return [{ name: VIRTUAL_INBOUND, resource }];
}

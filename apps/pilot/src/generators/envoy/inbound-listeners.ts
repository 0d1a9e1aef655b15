import type { listenerComponents } from '@flotilla/proto';
import { core, httpConnectionManager, listener, originalDst, packAny, tlsInspector } from '@flotilla/proto';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { ROUTER_FILTER } from '../listener';
import type { Proxy, PushContext } from '../model';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import { ISTIO_MTLS_ALPNS, WorkloadMtls, istioMutualServerTransportSocket } from './authn';
import type { EffectiveMtlsMode } from './authn';
import { authorizationFilters } from './authz';
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
import { jwtAuthnFilter, requestAuthenticationsFor } from './jwt';

const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';
/** Suffix of the name of a port's mTLS chain (its plaintext chain is named after the inbound cluster alone). */
export const MTLS_CHAIN_SUFFIX = '-mtls';

/** The workload an inbound port belongs to: its labels (the endpoint's and the node's) and namespace. */
function workloadLabels(proxy: Proxy, instance: InboundInstance): Record<string, string> {
  return { ...instance.labels, ...proxy.labels };
}

/**
 * The HTTP filters of an inbound chain in Istio's order: jwt_authn (RequestAuthentication), then authorization
 * (CUSTOM, AUDIT, DENY, ALLOW), router last.
 */
function inboundHttpFilters(push: PushContext, proxy: Proxy, instance: InboundInstance, mesh: MeshConfig) {
  const namespace = instance.service.namespace;
  const labels = workloadLabels(proxy, instance);
  const filters: httpConnectionManager.HttpFilter[] = [];
  const jwt = jwtAuthnFilter(requestAuthenticationsFor(push, namespace, labels));
  if (jwt) filters.push(jwt);
  filters.push(
    ...authorizationFilters(push.authorizationPoliciesFor(namespace, labels), mesh.extensionProviders ?? []),
  );
  filters.push(httpFilter(ROUTER_FILTER));
  return filters;
}

/** A filter chain of virtualInbound before encoding. */
interface Chain {
  name: string;
  filterChainMatch?: {
    destinationPort?: number;
    transportProtocol?: string;
    applicationProtocols?: string[];
  };
  filters: listenerComponents.Filter[];
  transportSocket?: ReturnType<typeof istioMutualServerTransportSocket>;
}

/**
 * The chains of one mTLS mode around the same filters: STRICT only the mTLS chain (TLS with a client certificate),
 * DISABLE only plaintext, PERMISSIVE both — TLS connections offering Istio's ALPN to the mTLS chain and anything
 * else to the plaintext one (Envoy prefers the chain naming the connection's transport protocol and ALPN).
 */
function chainsForMode(
  mode: EffectiveMtlsMode,
  name: string,
  destinationPort: number | undefined,
  filters: listenerComponents.Filter[],
  http: boolean,
): Chain[] {
  const port = destinationPort === undefined ? {} : { destinationPort };
  const plaintext: Chain = {
    name,
    filters,
    ...(destinationPort === undefined ? {} : { filterChainMatch: port }),
  };
  const mtls = (applicationProtocols?: string[]): Chain => ({
    name: `${name}${MTLS_CHAIN_SUFFIX}`,
    filterChainMatch: {
      ...port,
      transportProtocol: 'tls',
      ...(applicationProtocols ? { applicationProtocols } : {}),
    },
    filters,
    transportSocket: istioMutualServerTransportSocket(http),
  });
  if (mode === 'DISABLE') return [plaintext];
  if (mode === 'STRICT') return [mtls()];
  return [mtls(ISTIO_MTLS_ALPNS), plaintext];
}

function inboundFilterChains(
  push: PushContext,
  proxy: Proxy,
  instance: InboundInstance,
  mode: EffectiveMtlsMode,
  mesh: MeshConfig,
): Chain[] {
  const cluster = inboundClusterName(instance.targetPort);
  if (!isHttp(instance.protocol)) {
    return chainsForMode(mode, cluster, instance.targetPort, [tcpProxyFilter(cluster, cluster)], false);
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
    httpFilters: inboundHttpFilters(push, proxy, instance, mesh),
    // Over mTLS, tell the workload who called (Istio's inbound settings): the peer's URI SAN in XFCC.
    ...(mode === 'DISABLE'
      ? {}
      : {
          forwardClientCertDetails:
            httpConnectionManager.HttpConnectionManager_ForwardClientCertDetails.APPEND_FORWARD,
          setCurrentClientCertDetails: { subject: true, dns: true, uri: true },
        }),
  });
  return chainsForMode(mode, cluster, instance.targetPort, [hcmFilter(hcm)], true);
}

/**
 * virtualInbound, 0.0.0.0:15006, where iptables redirects connections to the workload: per port the workload
 * serves, the chains its PeerAuthentication mode asks for (HTTP through an HttpConnectionManager with jwt_authn
 * and RBAC filters, TCP through tcp_proxy), and catch-all chains to InboundPassthroughClusterIpv4 for ports no
 * service declares, under the workload's own mode.
 */
export function virtualInboundListener(push: PushContext, proxy: Proxy, mesh: MeshConfig): listener.Listener {
  const instances = inboundInstances(push, proxy);
  const workloadMtls = WorkloadMtls.resolve(
    push,
    instances[0]?.service.namespace ?? proxy.namespace,
    instances[0] ? workloadLabels(proxy, instances[0]) : proxy.labels,
  );
  const chains: Chain[] = instances.flatMap((instance) =>
    inboundFilterChains(push, proxy, instance, workloadMtls.modeOf(instance.targetPort), mesh),
  );
  chains.push(
    ...chainsForMode(
      workloadMtls.workloadMode,
      `${VIRTUAL_INBOUND}-catchall-tcp`,
      undefined,
      [tcpProxyFilter(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)],
      false,
    ),
  );
  const listenerFilters: listenerComponents.ListenerFilter[] = [
    // iptables redirected the connection here: recover the address it was for, so filter chains can match the
    // workload port it was sent to.
    {
      name: 'envoy.filters.listener.original_dst',
      typedConfig: packAny(originalDst.OriginalDst, originalDst.OriginalDst.fromPartial({})),
    },
  ];
  if (chains.some((c) => c.filterChainMatch?.transportProtocol === 'tls')) {
    // Reads the ClientHello so that chains can match transport protocol "tls" and the offered ALPN.
    listenerFilters.push({
      name: TLS_INSPECTOR,
      typedConfig: packAny(tlsInspector.TlsInspector, tlsInspector.TlsInspector.fromPartial({})),
    });
  }
  return listener.Listener.fromPartial({
    name: VIRTUAL_INBOUND,
    address: socketAddress('0.0.0.0', VIRTUAL_INBOUND_PORT),
    trafficDirection: core.TrafficDirection.INBOUND,
    listenerFilters,
    filterChains: chains,
  });
}

/** The inbound side of LDS for an Envoy sidecar: virtualInbound. */
export function buildInboundListeners(request: GenerateRequest, mesh: MeshConfig): ResourceEntry[] {
  const { push, proxy } = request;
  const resource = encoded(request, TypeUrl.Listener, VIRTUAL_INBOUND, workloadKey(push, proxy, mesh), () =>
    packAny(listener.Listener, virtualInboundListener(push, proxy, mesh)),
  );
  return [{ name: VIRTUAL_INBOUND, resource }];
}

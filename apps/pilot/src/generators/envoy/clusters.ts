import { cluster, configSource, http2ProtocolOptions, packAny } from '@flotilla/proto';
import type { Protocol } from '@flotilla/registry';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { clusterName, parseDuration } from '../model';
import type { Proxy, PushContext } from '../model';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import {
  BLACKHOLE_CLUSTER,
  DEFAULT_CONNECT_TIMEOUT,
  INBOUND_PASSTHROUGH_BIND_ADDRESS,
  INBOUND_PASSTHROUGH_CLUSTER,
  PASSTHROUGH_CLUSTER,
  inboundInstances,
  outboundKey,
  outboundPorts,
  selectNames,
  socketAddress,
  workloadKey,
} from './common';
import type { MeshConfig } from './common';
import type { EnvoyConnectionPool, EnvoyTrafficPolicyCore } from './istio-networking';
import { applyLoadBalancer, clusterTrafficPolicy } from './load-balancing';
import { http1ProtocolOptions, upstreamTransportSocket } from './tls';

const LB = cluster.Cluster_LbPolicy;
const ADS_SOURCE = { ads: {}, resourceApiVersion: configSource.ApiVersion.V3 };
/** Istio's circuit breaker defaults: effectively unlimited, so that Envoy's small defaults (1024) never bite. */
const UNLIMITED = 4_294_967_295;

/**
 * Circuit breakers: Istio's unlimited defaults with the connection pool's limits (tcp.maxConnections,
 * http.http1MaxPendingRequests, http.http2MaxRequests, http.maxRetries) in their place.
 */
function circuitBreakers(pool: EnvoyConnectionPool | undefined) {
  return {
    thresholds: [
      {
        maxConnections: pool?.tcp?.maxConnections ?? UNLIMITED,
        maxPendingRequests: pool?.http?.http1MaxPendingRequests ?? UNLIMITED,
        maxRequests: pool?.http?.http2MaxRequests ?? UNLIMITED,
        maxRetries: pool?.http?.maxRetries ?? UNLIMITED,
        trackRemaining: true,
      },
    ],
  };
}

/**
 * The upstream HTTP options of a cluster: HTTP/2 for HTTP2 and gRPC ports (and for HTTP with h2UpgradePolicy
 * UPGRADE), with the connection pool's idleTimeout, maxRequestsPerConnection and maxConnectionDuration.
 */
function protocolOptions(protocol: Protocol | undefined, pool: EnvoyConnectionPool | undefined) {
  const common = {
    idleTimeout: parseDuration(pool?.http?.idleTimeout),
    maxRequestsPerConnection: pool?.http?.maxRequestsPerConnection,
    maxConnectionDuration: parseDuration(pool?.tcp?.maxConnectionDuration),
  };
  const hasCommon = Object.values(common).some((v) => v !== undefined);
  const http2 =
    protocol === 'HTTP2' ||
    protocol === 'GRPC' ||
    (protocol === 'HTTP' && pool?.http?.h2UpgradePolicy === 'UPGRADE');
  if (http2) return http2ProtocolOptions(hasCommon ? common : undefined);
  if (hasCommon && protocol !== 'TCP') return http1ProtocolOptions(common);
  return {};
}

/** Istio's outlier detection: each consecutive-error kind enforced fully when set; success-rate ejection off. */
function outlierDetection(od: EnvoyTrafficPolicyCore['outlierDetection']) {
  if (!od) return undefined;
  const consecutive5xx = od.consecutive5xxErrors ?? od.consecutiveErrors;
  return {
    consecutive5xx,
    // Unset means Envoy's default of 5, which Istio turns off unless asked for.
    enforcingConsecutive5xx: consecutive5xx ? 100 : 0,
    consecutiveGatewayFailure: od.consecutiveGatewayErrors,
    enforcingConsecutiveGatewayFailure: od.consecutiveGatewayErrors ? 100 : 0,
    interval: parseDuration(od.interval),
    baseEjectionTime: parseDuration(od.baseEjectionTime),
    maxEjectionPercent: od.maxEjectionPercent,
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors ?? false,
    enforcingSuccessRate: 0,
  };
}

/** The distinct SPIFFE identities of a service port's endpoints: what ISTIO_MUTUAL expects the server to be. */
function destinationIdentities(push: PushContext, host: string, port: number): string[] {
  return [...new Set(push.endpoints(host, port).flatMap((e) => (e.identity ? [e.identity] : [])))].sort();
}

/**
 * An outbound EDS cluster for Envoy from the DestinationRule's traffic policy for it (port-level settings, then
 * the subset's): load balancer, connection pool (circuit breakers, connect timeout, TCP keepalive, upstream HTTP
 * options), outlier detection and minHealthPercent, locality weighting (localityLbSetting.distribute; failover
 * is EDS priorities) and TLS.
 */
export function outboundCluster(
  push: PushContext,
  proxy: Proxy,
  host: string,
  port: number,
  subset: string,
): cluster.Cluster {
  const dr = push.destinationRuleFor(host, proxy.namespace);
  const policy = clusterTrafficPolicy(dr, subset, port);
  const name = clusterName(host, port, subset);
  const protocol = push.service(host)?.ports.find((p) => p.port === port)?.protocol;
  const pool = policy.connectionPool;
  const keepalive = pool?.tcp?.tcpKeepalive;
  const c = cluster.Cluster.fromPartial({
    name,
    type: cluster.Cluster_DiscoveryType.EDS,
    edsClusterConfig: { edsConfig: ADS_SOURCE, serviceName: name },
    connectTimeout: parseDuration(pool?.tcp?.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT,
    circuitBreakers: circuitBreakers(pool),
    outlierDetection: outlierDetection(policy.outlierDetection),
    typedExtensionProtocolOptions: protocolOptions(protocol, pool),
    upstreamConnectionOptions: keepalive
      ? {
          tcpKeepalive: {
            keepaliveProbes: keepalive.probes,
            keepaliveTime: parseDuration(keepalive.time)?.seconds,
            keepaliveInterval: parseDuration(keepalive.interval)?.seconds,
          },
        }
      : undefined,
    transportSocket: upstreamTransportSocket(policy.tls, name, destinationIdentities(push, host, port)),
  });
  const minHealth = policy.outlierDetection?.minHealthPercent;
  const locality = policy.loadBalancer?.localityLbSetting;
  if (minHealth !== undefined || locality?.distribute?.length) {
    c.commonLbConfig = cluster.Cluster_CommonLbConfig.fromPartial({
      healthyPanicThreshold: minHealth !== undefined ? { value: minHealth } : undefined,
      localityWeightedLbConfig: locality?.distribute?.length ? {} : undefined,
    });
  }
  applyLoadBalancer(c, policy);
  return c;
}

/** The outbound cluster names of the proxy: per visible service port the default one and one per subset. */
function outboundClusterKeys(push: PushContext, proxy: Proxy) {
  const out: { host: string; port: number; subset: string }[] = [];
  for (const { service, port } of outboundPorts(push, proxy)) {
    out.push({ host: service.hostname, port, subset: '' });
    const dr = push.destinationRuleFor(service.hostname, proxy.namespace);
    for (const s of dr?.spec.subsets ?? []) out.push({ host: service.hostname, port, subset: s.name });
  }
  return out;
}

/** "inbound|<port>||": delivers to the workload on localhost at its target port (a STATIC cluster). */
export function inboundClusterName(targetPort: number): string {
  return `inbound|${targetPort}||`;
}

function inboundCluster(targetPort: number): cluster.Cluster {
  const name = inboundClusterName(targetPort);
  return cluster.Cluster.fromPartial({
    name,
    type: cluster.Cluster_DiscoveryType.STATIC,
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    lbPolicy: LB.ROUND_ROBIN,
    loadAssignment: {
      clusterName: name,
      endpoints: [{ lbEndpoints: [{ endpoint: { address: socketAddress('127.0.0.1', targetPort) } }] }],
    },
  });
}

/** The clusters that do not depend on the registry: blackhole, outbound and inbound passthrough. */
export function staticClusters(): cluster.Cluster[] {
  return [
    cluster.Cluster.fromPartial({
      name: BLACKHOLE_CLUSTER,
      type: cluster.Cluster_DiscoveryType.STATIC,
      connectTimeout: DEFAULT_CONNECT_TIMEOUT,
      // No endpoints: every connection fails, which is the point.
      loadAssignment: { clusterName: BLACKHOLE_CLUSTER },
    }),
    cluster.Cluster.fromPartial({
      name: PASSTHROUGH_CLUSTER,
      type: cluster.Cluster_DiscoveryType.ORIGINAL_DST,
      connectTimeout: DEFAULT_CONNECT_TIMEOUT,
      lbPolicy: LB.CLUSTER_PROVIDED,
    }),
    cluster.Cluster.fromPartial({
      name: INBOUND_PASSTHROUGH_CLUSTER,
      type: cluster.Cluster_DiscoveryType.ORIGINAL_DST,
      connectTimeout: DEFAULT_CONNECT_TIMEOUT,
      lbPolicy: LB.CLUSTER_PROVIDED,
      upstreamBindConfig: { sourceAddress: { address: INBOUND_PASSTHROUGH_BIND_ADDRESS, portValue: 0 } },
    }),
  ];
}

/**
 * CDS for Envoy: "outbound|<port>|<subset>|<host>" EDS clusters for every visible service port and
 * DestinationRule subset; for a sidecar also "inbound|<port>||" clusters for
 * the ports its workload serves, PassthroughCluster and InboundPassthroughClusterIpv4; BlackHoleCluster for both.
 * sds-grpc (the mesh agent's SDS) is not sent: as in Istio, it is a static cluster of the bootstrap
 * (`flotilla bootstrap`), which CDS cannot replace.
 */
export function buildEnvoyClusters(request: GenerateRequest, mesh: MeshConfig): ResourceEntry[] {
  const { push, proxy } = request;
  const gateway = proxy.type === 'router';
  const out: ResourceEntry[] = [];
  const outKey = outboundKey(push, proxy, mesh);
  for (const k of outboundClusterKeys(push, proxy)) {
    const name = clusterName(k.host, k.port, k.subset);
    const resource = encoded(request, TypeUrl.Cluster, name, outKey, () =>
      packAny(cluster.Cluster, outboundCluster(push, proxy, k.host, k.port, k.subset)),
    );
    out.push({ name, resource });
  }
  if (!gateway) {
    const inKey = workloadKey(push, proxy, mesh);
    for (const instance of inboundInstances(push, proxy)) {
      const name = inboundClusterName(instance.targetPort);
      const resource = encoded(request, TypeUrl.Cluster, name, inKey, () =>
        packAny(cluster.Cluster, inboundCluster(instance.targetPort)),
      );
      out.push({ name, resource });
    }
  }
  const special = staticClusters().filter((c) => !gateway || c.name === BLACKHOLE_CLUSTER);
  for (const c of special) {
    out.push({
      name: c.name,
      resource: encoded(request, TypeUrl.Cluster, c.name, 'envoy', () => packAny(cluster.Cluster, c)),
    });
  }
  return selectNames(out, request.names);
}

import { cluster, configSource, packAny } from '@flotilla/proto';
import type { Service } from '@flotilla/registry';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import type { ConfigEntry } from '../config-store';
import type { DestinationRuleSpec, TrafficPolicy } from './istio-types';
import { clusterName, parseClusterName, parseDuration, sortedNames } from './model';
import type { Proxy, PushContext } from './model';
import { encoded } from './types';
import type { GenerateRequest } from './types';

const ADS_SOURCE = { ads: {}, resourceApiVersion: configSource.ApiVersion.V3 };
const DEFAULT_CONNECT_TIMEOUT = { seconds: 10, nanos: 0 };

type TrafficPolicyCore = Omit<TrafficPolicy, 'portLevelSettings'>;

/**
 * Istio's MergeTrafficPolicy: the port-level settings of `port` override the policy's own, then a subset's policy
 * overrides the result; each of loadBalancer, connectionPool and outlierDetection is taken whole.
 */
export function mergeTrafficPolicy(
  original: TrafficPolicy | undefined,
  subset: TrafficPolicy | undefined,
  port: number,
): TrafficPolicyCore {
  const resolve = (p: TrafficPolicy | undefined): TrafficPolicyCore => {
    if (!p) return {};
    const portLevel = p.portLevelSettings?.find((s) => s.port?.number === port);
    return {
      loadBalancer: portLevel?.loadBalancer ?? p.loadBalancer,
      connectionPool: portLevel?.connectionPool ?? p.connectionPool,
      outlierDetection: portLevel?.outlierDetection ?? p.outlierDetection,
    };
  };
  const base = resolve(original);
  const over = resolve(subset);
  return {
    loadBalancer: over.loadBalancer ?? base.loadBalancer,
    connectionPool: over.connectionPool ?? base.connectionPool,
    outlierDetection: over.outlierDetection ?? base.outlierDetection,
  };
}

/** Notes on settings proxyless gRPC cannot take, for the caller to log. */
export type ClusterWarning = (message: string) => void;

/**
 * One EDS cluster as grpc-js-xds accepts it: type EDS over ADS with the cluster name as EDS service name (never
 * STATIC), ROUND_ROBIN, or RING_HASH (xxHash) for consistent hashing; LEAST_REQUEST and the other simple
 * policies fall back to ROUND_ROBIN, since grpc-js-xds rejects them. Outlier detection and circuit breaking
 * (max_requests, which gRPC enforces) from the merged traffic policy.
 */
export function edsCluster(name: string, policy: TrafficPolicyCore, warn?: ClusterWarning): cluster.Cluster {
  const c: Parameters<typeof cluster.Cluster.fromPartial>[0] = {
    name,
    type: cluster.Cluster_DiscoveryType.EDS,
    edsClusterConfig: { edsConfig: ADS_SOURCE, serviceName: name },
    connectTimeout: parseDuration(policy.connectionPool?.tcp?.connectTimeout) ?? DEFAULT_CONNECT_TIMEOUT,
    lbPolicy: cluster.Cluster_LbPolicy.ROUND_ROBIN,
  };
  const lb = policy.loadBalancer;
  if (lb?.consistentHash) {
    c.lbPolicy = cluster.Cluster_LbPolicy.RING_HASH;
    const minimum = lb.consistentHash.ringHash?.minimumRingSize ?? lb.consistentHash.minimumRingSize;
    c.ringHashLbConfig = {
      hashFunction: cluster.Cluster_RingHashLbConfig_HashFunction.XX_HASH,
      minimumRingSize: minimum ? Math.min(minimum, 8_388_608) : undefined,
    };
  } else if (lb?.simple && lb.simple !== 'ROUND_ROBIN' && lb.simple !== 'UNSPECIFIED') {
    warn?.(`${name}: load balancer ${lb.simple} is not supported by proxyless gRPC; using ROUND_ROBIN`);
  }
  const od = policy.outlierDetection;
  if (od) {
    const consecutive5xx = od.consecutive5xxErrors ?? od.consecutiveErrors;
    c.outlierDetection = {
      consecutive5xx,
      enforcingConsecutive5xx: consecutive5xx !== undefined ? 100 : undefined,
      consecutiveGatewayFailure: od.consecutiveGatewayErrors,
      enforcingConsecutiveGatewayFailure: od.consecutiveGatewayErrors !== undefined ? 100 : undefined,
      interval: parseDuration(od.interval),
      baseEjectionTime: parseDuration(od.baseEjectionTime),
      maxEjectionPercent: od.maxEjectionPercent,
      // Istio ejects on consecutive errors only: success-rate ejection stays off.
      enforcingSuccessRate: 0,
    };
  }
  const pool = policy.connectionPool;
  if (
    pool?.http?.http2MaxRequests ||
    pool?.tcp?.maxConnections ||
    pool?.http?.http1MaxPendingRequests ||
    pool?.http?.maxRetries
  ) {
    c.circuitBreakers = {
      thresholds: [
        {
          priority: 0, // DEFAULT
          maxRequests: pool.http?.http2MaxRequests,
          maxConnections: pool.tcp?.maxConnections,
          maxPendingRequests: pool.http?.http1MaxPendingRequests,
          maxRetries: pool.http?.maxRetries,
        },
      ],
    };
  }
  return cluster.Cluster.fromPartial(c);
}

/** The cluster names of a service port: the default one and one per DestinationRule subset. */
export function clusterNamesOf(push: PushContext, proxy: Proxy, service: Service, port: number): string[] {
  const dr = push.destinationRuleFor(service.hostname, proxy.namespace);
  return [
    clusterName(service.hostname, port),
    ...(dr?.spec.subsets ?? []).map((s) => clusterName(service.hostname, port, s.name)),
  ];
}

function buildOne(
  push: PushContext,
  proxy: Proxy,
  name: string,
  warn?: ClusterWarning,
): cluster.Cluster | undefined {
  const parsed = parseClusterName(name);
  if (!parsed || parsed.direction !== 'outbound') return undefined;
  const service = push.service(parsed.host);
  if (!service || !service.ports.some((p) => p.port === parsed.port)) return undefined;
  const dr: ConfigEntry<DestinationRuleSpec> | undefined = push.destinationRuleFor(
    parsed.host,
    proxy.namespace,
  );
  let subsetPolicy: TrafficPolicy | undefined;
  if (parsed.subset) {
    const subset = dr?.spec.subsets?.find((s) => s.name === parsed.subset);
    if (!subset) return undefined;
    subsetPolicy = subset.trafficPolicy;
  }
  return edsCluster(name, mergeTrafficPolicy(dr?.spec.trafficPolicy, subsetPolicy, parsed.port), warn);
}

/**
 * CDS for proxyless gRPC: the requested "outbound|<port>|<subset>|<host>" clusters that exist (a subset must be in
 * the host's DestinationRule), or for a wildcard request every cluster of every visible service.
 */
export function buildGrpcClusters(request: GenerateRequest, warn?: ClusterWarning): ResourceEntry[] {
  const { push, proxy, names } = request;
  const wanted = names
    ? sortedNames(names)
    : push
        .servicesFor(proxy.namespace)
        .flatMap((s) => s.ports.flatMap((p) => clusterNamesOf(push, proxy, s, p.port)))
        .sort();
  const out: ResourceEntry[] = [];
  for (const name of wanted) {
    const host = parseClusterName(name)?.host;
    const key = `${host === undefined ? push.version : push.hostVersion(host)}|${proxy.namespace}`;
    // A name that stands for no cluster is cached too, as an empty Any, and left out.
    const resource = encoded(request, TypeUrl.Cluster, name, key, () => {
      const c = buildOne(push, proxy, name, warn);
      return c ? packAny(cluster.Cluster, c) : { typeUrl: '', value: Buffer.alloc(0) };
    });
    if (resource.typeUrl === '') continue;
    out.push({ name, resource });
  }
  return out;
}

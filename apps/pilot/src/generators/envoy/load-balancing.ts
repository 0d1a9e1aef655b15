// DestinationRule traffic policy for Envoy: which policy applies to a cluster (port-level settings, subsets), and
// its load balancer as cluster settings and route hash policies.
import { cluster, routeComponents } from '@flotilla/proto';
import type { ConfigEntry } from '../../config-store';
import type { DestinationRuleSpec } from '../istio-types';
import { parseDuration } from '../model';
import type {
  EnvoyDestinationRuleSpec,
  EnvoyTrafficPolicy,
  EnvoyTrafficPolicyCore,
} from './istio-networking';

const LB = cluster.Cluster_LbPolicy;
/** Envoy's largest ring (8M entries); Istio caps minimumRingSize at it. */
const MAX_RING_SIZE = 8_388_608;

function atPort(policy: EnvoyTrafficPolicy | undefined, port: number): EnvoyTrafficPolicyCore {
  if (!policy) return {};
  const portLevel = policy.portLevelSettings?.find((s) => s.port?.number === port);
  return {
    loadBalancer: portLevel?.loadBalancer ?? policy.loadBalancer,
    connectionPool: portLevel?.connectionPool ?? policy.connectionPool,
    outlierDetection: portLevel?.outlierDetection ?? policy.outlierDetection,
    tls: portLevel?.tls ?? policy.tls,
  };
}

/**
 * Istio's MergeTrafficPolicy: a port's portLevelSettings override the policy's own settings, and a subset's
 * policy (resolved for the port the same way) overrides the result; loadBalancer, connectionPool,
 * outlierDetection and tls are each taken whole.
 */
export function clusterTrafficPolicy(
  dr: ConfigEntry<DestinationRuleSpec> | undefined,
  subset: string,
  port: number,
): EnvoyTrafficPolicyCore {
  const spec = dr?.spec as EnvoyDestinationRuleSpec | undefined;
  const base = atPort(spec?.trafficPolicy, port);
  const subsetPolicy = subset ? spec?.subsets?.find((s) => s.name === subset)?.trafficPolicy : undefined;
  const over = atPort(subsetPolicy, port);
  return {
    loadBalancer: over.loadBalancer ?? base.loadBalancer,
    connectionPool: over.connectionPool ?? base.connectionPool,
    outlierDetection: over.outlierDetection ?? base.outlierDetection,
    tls: over.tls ?? base.tls,
  };
}

/** The route hash policy of a destination whose traffic policy asks for consistent hashing. */
export function hashPolicies(
  dr: ConfigEntry<DestinationRuleSpec> | undefined,
  subset: string,
  port: number,
): routeComponents.RouteAction_HashPolicy[] {
  const ch = clusterTrafficPolicy(dr, subset, port).loadBalancer?.consistentHash;
  if (!ch) return [];
  let policy: Parameters<typeof routeComponents.RouteAction_HashPolicy.fromPartial>[0] | undefined;
  if (ch.httpHeaderName) policy = { header: { headerName: ch.httpHeaderName } };
  else if (ch.httpCookie) {
    policy = {
      cookie: {
        name: ch.httpCookie.name,
        path: ch.httpCookie.path ?? '',
        ttl: parseDuration(ch.httpCookie.ttl),
      },
    };
  } else if (ch.useSourceIp) policy = { connectionProperties: { sourceIp: true } };
  else if (ch.httpQueryParameterName) policy = { queryParameter: { name: ch.httpQueryParameterName } };
  return policy ? [routeComponents.RouteAction_HashPolicy.fromPartial(policy)] : [];
}

/**
 * The load balancer of a cluster: ROUND_ROBIN (Istio's default), LEAST_REQUEST for LEAST_CONN and LEAST_REQUEST,
 * RANDOM, PASSTHROUGH as an ORIGINAL_DST cluster, and consistent hashing as RING_HASH (with its minimum ring size)
 * or MAGLEV (with its table size).
 */
export function applyLoadBalancer(c: cluster.Cluster, policy: EnvoyTrafficPolicyCore): void {
  const lb = policy.loadBalancer;
  c.lbPolicy = LB.ROUND_ROBIN;
  if (lb?.consistentHash) {
    const ch = lb.consistentHash;
    if (ch.maglev) {
      c.lbPolicy = LB.MAGLEV;
      c.maglevLbConfig = cluster.Cluster_MaglevLbConfig.fromPartial({ tableSize: ch.maglev.tableSize });
    } else {
      c.lbPolicy = LB.RING_HASH;
      const minimum = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize;
      c.ringHashLbConfig = cluster.Cluster_RingHashLbConfig.fromPartial({
        hashFunction: cluster.Cluster_RingHashLbConfig_HashFunction.XX_HASH,
        minimumRingSize: minimum ? Math.min(minimum, MAX_RING_SIZE) : undefined,
      });
    }
    return;
  }
  switch (lb?.simple) {
    case 'LEAST_CONN':
    case 'LEAST_REQUEST':
      c.lbPolicy = LB.LEAST_REQUEST;
      break;
    case 'RANDOM':
      c.lbPolicy = LB.RANDOM;
      break;
    case 'PASSTHROUGH':
      c.type = cluster.Cluster_DiscoveryType.ORIGINAL_DST;
      c.lbPolicy = LB.CLUSTER_PROVIDED;
      c.edsClusterConfig = undefined;
      break;
    default:
      break;
  }
}

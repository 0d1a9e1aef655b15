import { cluster, packAny } from '@flotilla/proto';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { edsCluster, mergeTrafficPolicy } from '../cluster';
import type { LoadBalancerSettings } from '../istio-types';
import { clusterName } from '../model';
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

const LB = cluster.Cluster_LbPolicy;

/**
 * An outbound EDS cluster for Envoy: the shared EDS cluster (connect timeout, ring hash, outlier detection,
 * circuit breakers from the merged traffic policy) with the load balancers Envoy has and gRPC lacks — LEAST_CONN
 * and LEAST_REQUEST as LEAST_REQUEST, RANDOM — and PASSTHROUGH as an ORIGINAL_DST cluster, as Istio does.
 */
export function outboundCluster(push: PushContext, proxy: Proxy, host: string, port: number, subset: string) {
  const dr = push.destinationRuleFor(host, proxy.namespace);
  const subsetPolicy = subset ? dr?.spec.subsets?.find((s) => s.name === subset)?.trafficPolicy : undefined;
  const policy = mergeTrafficPolicy(dr?.spec.trafficPolicy, subsetPolicy, port);
  const name = clusterName(host, port, subset);
  const c = edsCluster(name, policy);
  const simple: LoadBalancerSettings['simple'] = policy.loadBalancer?.consistentHash
    ? undefined
    : policy.loadBalancer?.simple;
  if (simple === 'LEAST_CONN' || simple === 'LEAST_REQUEST') c.lbPolicy = LB.LEAST_REQUEST;
  else if (simple === 'RANDOM') c.lbPolicy = LB.RANDOM;
  else if (simple === 'PASSTHROUGH') {
    c.type = cluster.Cluster_DiscoveryType.ORIGINAL_DST;
    c.lbPolicy = LB.CLUSTER_PROVIDED;
    c.edsClusterConfig = undefined;
  }
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
 * CDS for an Envoy sidecar: "outbound|<port>|<subset>|<host>" EDS clusters for every visible service port and
 * DestinationRule subset, "inbound|<port>||" clusters for the ports its workload serves, BlackHoleCluster,
 * PassthroughCluster and InboundPassthroughClusterIpv4.
 */
export function buildEnvoyClusters(request: GenerateRequest, mesh: MeshConfig): ResourceEntry[] {
  const { push, proxy } = request;
  const out: ResourceEntry[] = [];
  const outKey = outboundKey(push, proxy, mesh);
  for (const k of outboundClusterKeys(push, proxy)) {
    const name = clusterName(k.host, k.port, k.subset);
    const resource = encoded(request, TypeUrl.Cluster, name, outKey, () =>
      packAny(cluster.Cluster, outboundCluster(push, proxy, k.host, k.port, k.subset)),
    );
    out.push({ name, resource });
  }
  const inKey = workloadKey(push, proxy, mesh);
  for (const instance of inboundInstances(push, proxy)) {
    const name = inboundClusterName(instance.targetPort);
    const resource = encoded(request, TypeUrl.Cluster, name, inKey, () =>
      packAny(cluster.Cluster, inboundCluster(instance.targetPort)),
    );
    out.push({ name, resource });
  }
  for (const c of staticClusters()) {
    out.push({
      name: c.name,
      resource: encoded(request, TypeUrl.Cluster, c.name, 'envoy', () => packAny(cluster.Cluster, c)),
    });
  }
  return selectNames(out, request.names);
}

import { endpoint, packAny } from '@flotilla/proto';
import { selectorMatches } from '@flotilla/registry';
import type { Endpoint } from '@flotilla/registry';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { isIP } from 'node:net';
import { clusterNamesOf } from './cluster';
import { parseClusterName, sortedNames } from './model';
import type { PushContext, Proxy } from './model';
import { encoded } from './types';
import type { GenerateRequest } from './types';

/** envoy.config.core.v3.HealthStatus */
const HEALTH = { HEALTHY: 1, UNHEALTHY: 2, DRAINING: 3 } as const;

/**
 * One ClusterLoadAssignment: the endpoints of the service port (those of the subset's labels for a subset
 * cluster) with IP literal addresses (grpc-js-xds resolves no names in EDS), grouped by locality; each locality
 * carries a load_balancing_weight (the sum of its endpoints' weights), without which grpc-js-xds ignores it.
 */
export function loadAssignment(
  name: string,
  endpoints: readonly Endpoint[],
  subsetLabels: Record<string, string> | undefined,
): endpoint.ClusterLoadAssignment {
  const byLocality = new Map<string, Endpoint[]>();
  for (const ep of endpoints) {
    if (subsetLabels && !selectorMatches(subsetLabels, ep.labels)) continue;
    if (isIP(ep.address) === 0) continue;
    const key = `${ep.locality.region}/${ep.locality.zone}/${ep.locality.subZone}`;
    let list = byLocality.get(key);
    if (!list) byLocality.set(key, (list = []));
    list.push(ep);
  }
  const localities = [...byLocality.entries()].sort(([a], [b]) => a.localeCompare(b));
  return endpoint.ClusterLoadAssignment.fromPartial({
    clusterName: name,
    endpoints: localities.map(([, eps]) => ({
      locality: eps[0].locality,
      loadBalancingWeight: eps.reduce((sum, ep) => sum + ep.weight, 0),
      priority: 0,
      lbEndpoints: [...eps]
        .sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port)
        .map((ep) => ({
          endpoint: { address: { socketAddress: { address: ep.address, portValue: ep.port } } },
          healthStatus: HEALTH[ep.health],
          loadBalancingWeight: ep.weight,
        })),
    })),
  });
}

function subsetLabelsOf(
  push: PushContext,
  proxy: Proxy,
  host: string,
  subset: string,
): Record<string, string> | undefined | null {
  if (!subset) return undefined;
  const found = push.destinationRuleFor(host, proxy.namespace)?.spec.subsets?.find((s) => s.name === subset);
  return found ? (found.labels ?? {}) : null;
}

/**
 * EDS for proxyless gRPC: a ClusterLoadAssignment per requested cluster name (grpc-js-xds asks by the cluster's
 * eds service_name, which is the cluster name), or for a wildcard request one per cluster of every visible
 * service.
 */
export function buildGrpcEndpoints(request: GenerateRequest): ResourceEntry[] {
  const { push, proxy, names } = request;
  const wanted = names
    ? sortedNames(names)
    : push
        .servicesFor(proxy.namespace)
        .flatMap((s) => s.ports.flatMap((p) => clusterNamesOf(push, proxy, s, p.port)))
        .sort();
  const out: ResourceEntry[] = [];
  for (const name of wanted) {
    const parsed = parseClusterName(name);
    if (!parsed || parsed.direction !== 'outbound') continue;
    const service = push.service(parsed.host);
    if (!service || !service.ports.some((p) => p.port === parsed.port)) continue;
    const labels = subsetLabelsOf(push, proxy, parsed.host, parsed.subset);
    if (labels === null) continue;
    const key = `${push.hostVersion(parsed.host)}|${proxy.namespace}|${push.endpointVersion(parsed.host)}`;
    const resource = encoded(request, TypeUrl.ClusterLoadAssignment, name, key, () =>
      packAny(
        endpoint.ClusterLoadAssignment,
        loadAssignment(name, push.endpoints(parsed.host, parsed.port), labels),
      ),
    );
    out.push({ name, resource });
  }
  return out;
}

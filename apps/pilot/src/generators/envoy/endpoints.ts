import { endpoint, packAny } from '@flotilla/proto';
import type { Locality } from '@flotilla/registry';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { loadAssignment } from '../endpoint';
import { clusterName } from '../model';
import type { Proxy, PushContext } from '../model';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import { outboundPorts } from './common';
import type { EnvoyDestinationRuleSpec, EnvoyTrafficPolicyCore, LocalityLbSetting } from './istio-networking';
import { clusterTrafficPolicy } from './load-balancing';

type LocalityEndpoints = endpoint.ClusterLoadAssignment['endpoints'][number];

function localityString(l: Locality | undefined): string {
  return l ? [l.region, l.zone, l.subZone].filter(Boolean).join('/') : '';
}

/** The proxy's locality: that of a registry endpoint at one of its IPs (Istio reads it from the node). */
export function proxyLocality(push: PushContext, proxy: Proxy): Locality | undefined {
  const ips = new Set(proxy.ips);
  for (const service of push.registry.services()) {
    for (const p of service.ports) {
      const ep = push.endpoints(service.hostname, p.port).find((e) => ips.has(e.address));
      if (ep && localityString(ep.locality)) return ep.locality;
    }
  }
  return undefined;
}

/** Istio's locality patterns: "region/zone/subzone" where a segment "*" (or a missing one) matches anything. */
function localityMatches(pattern: string, l: Locality | undefined): boolean {
  const want = pattern.split('/');
  const have = [l?.region ?? '', l?.zone ?? '', l?.subZone ?? ''];
  return want.every((w, i) => w === '*' || w === have[i]);
}

/**
 * localityLbSetting.distribute: the first rule whose `from` matches the proxy gives each locality group the
 * weight of the first `to` pattern it matches (shared among the groups that pattern matches); groups no pattern
 * matches get no traffic and are left out.
 */
function distribute(
  groups: LocalityEndpoints[],
  rules: NonNullable<LocalityLbSetting['distribute']>,
  own: Locality,
) {
  const rule = rules.find((r) => localityMatches(r.from, own));
  if (!rule) return groups;
  const patterns = Object.keys(rule.to);
  const patternOf = (g: LocalityEndpoints) =>
    patterns.find((p) => localityMatches(p, g.locality as Locality));
  const counts = new Map<string, number>();
  for (const g of groups) {
    const p = patternOf(g);
    if (p !== undefined) counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  return groups.flatMap((g) => {
    const p = patternOf(g);
    if (p === undefined) return [];
    // Weights are relative: scale to keep the shares exact when a pattern matches several groups.
    const weight = Math.round((rule.to[p] * 1000) / counts.get(p)!);
    return weight > 0 ? [{ ...g, loadBalancingWeight: weight }] : [];
  });
}

/**
 * Locality failover as EDS priorities (Istio's): 0 for the proxy's own region/zone/subzone, 1 for its zone, 2 for
 * its region, 3 for the region a `failover` rule sends the proxy's region to, 4 for the rest — renumbered without
 * gaps, since Envoy requires consecutive priorities.
 */
function failover(groups: LocalityEndpoints[], rules: LocalityLbSetting['failover'], own: Locality) {
  const target = rules?.find((r) => r.from === own.region)?.to;
  const rank = (l: Locality | undefined) => {
    if (l?.region !== own.region) return target !== undefined && l?.region === target ? 3 : 4;
    if (l.zone !== own.zone) return 2;
    return l.subZone === own.subZone ? 0 : 1;
  };
  const ranks = groups.map((g) => rank(g.locality as Locality));
  const used = [...new Set(ranks)].sort((a, b) => a - b);
  return groups.map((g, i) => ({ ...g, priority: used.indexOf(ranks[i]) }));
}

/**
 * The ClusterLoadAssignment of an outbound cluster: its endpoints by locality (the subset's labels for a subset
 * cluster), then Istio's locality load balancing when the proxy's locality is known — `distribute` weights, or
 * failover priorities when outlier detection is on (which Istio requires to fail over) and locality LB is not
 * disabled.
 */
export function envoyLoadAssignment(
  push: PushContext,
  proxy: Proxy,
  host: string,
  port: number,
  subset: string,
  own: Locality | undefined,
): endpoint.ClusterLoadAssignment | undefined {
  const dr = push.destinationRuleFor(host, proxy.namespace);
  const spec = dr?.spec as EnvoyDestinationRuleSpec | undefined;
  let labels: Record<string, string> | undefined;
  if (subset) {
    const found = spec?.subsets?.find((s) => s.name === subset);
    if (!found) return undefined;
    labels = found.labels ?? {};
  }
  const name = clusterName(host, port, subset);
  const cla = loadAssignment(name, push.endpoints(host, port), labels);
  const policy = clusterTrafficPolicy(dr, subset, port);
  const setting = policy.loadBalancer?.localityLbSetting;
  if (!own || !localityAware(policy)) return cla;
  if (setting?.distribute?.length) cla.endpoints = distribute(cla.endpoints, setting.distribute, own);
  else cla.endpoints = failover(cla.endpoints, setting?.failover, own);
  return cla;
}

/** Whether a cluster's endpoints depend on the proxy's locality: locality LB not disabled, and distribute or failover. */
function localityAware(policy: EnvoyTrafficPolicyCore): boolean {
  const setting = policy.loadBalancer?.localityLbSetting;
  if (setting?.enabled === false) return false;
  return Boolean(setting?.distribute?.length) || policy.outlierDetection !== undefined;
}

/**
 * EDS for Envoy: a ClusterLoadAssignment per outbound EDS cluster (named by the cluster, its eds service_name);
 * inbound and special clusters carry their endpoints inline or have none. A locality-aware assignment depends on
 * the proxy's locality, which is then part of its cache key (and only then looked up).
 */
export function buildEnvoyEndpoints(request: GenerateRequest): ResourceEntry[] {
  const { push, proxy, names } = request;
  let own: Locality | undefined | null = null;
  const locality = () => (own === null ? (own = proxyLocality(push, proxy)) : own);
  const out: ResourceEntry[] = [];
  for (const { service, port } of outboundPorts(push, proxy)) {
    const host = service.hostname;
    const dr = push.destinationRuleFor(host, proxy.namespace);
    for (const subset of ['', ...(dr?.spec.subsets ?? []).map((s) => s.name)]) {
      const name = clusterName(host, port, subset);
      if (names && !names.has(name)) continue;
      const mine = localityAware(clusterTrafficPolicy(dr, subset, port)) ? locality() : undefined;
      const key = `${push.hostVersion(host)}|${proxy.namespace}|${push.endpointVersion(host)}|${localityString(mine)}`;
      const resource = encoded(request, TypeUrl.ClusterLoadAssignment, name, key, () =>
        packAny(endpoint.ClusterLoadAssignment, envoyLoadAssignment(push, proxy, host, port, subset, mine)!),
      );
      out.push({ name, resource });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

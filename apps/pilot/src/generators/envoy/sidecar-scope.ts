// Istio's Sidecar resource for Envoy sidecars: which services a proxy's outbound side knows (egress hosts) and
// what it does with traffic to anything else (outboundTrafficPolicy). Which Sidecar applies, in Istio's order:
// one in the proxy's namespace whose workloadSelector selects it, else one in its namespace without a selector,
// else the mesh-wide default (no selector, in the root namespace istio-system), else none (everything visible).
// Several candidates at one level are taken in name order (Istio takes the oldest; names are what we have).
import type { Service } from '@flotilla/registry';
import { selectorMatches } from '@flotilla/registry';
import type { ConfigEntry } from '../../config-store';
import type { Proxy, PushContext } from '../model';
import type { MeshConfig, OutboundTrafficPolicyMode } from './common';

const ROOT_NAMESPACE = 'istio-system';

export interface SidecarSpec {
  workloadSelector?: { labels?: Record<string, string> };
  egress?: { port?: { number?: number }; bind?: string; hosts?: string[] }[];
  outboundTrafficPolicy?: { mode?: OutboundTrafficPolicyMode };
}

// Asked for several times per proxy and push (cache keys, outbound ports of each xDS type): worked out once each.
const sidecarOf = new WeakMap<PushContext, WeakMap<Proxy, ConfigEntry<SidecarSpec> | null>>();
const scopedOf = new WeakMap<PushContext, Map<string, Service[]>>();

/** The Sidecar resource that scopes `proxy`, if any. */
export function sidecarFor(push: PushContext, proxy: Proxy): ConfigEntry<SidecarSpec> | undefined {
  let byProxy = sidecarOf.get(push);
  if (!byProxy) sidecarOf.set(push, (byProxy = new WeakMap()));
  let found = byProxy.get(proxy);
  if (found === undefined) byProxy.set(proxy, (found = selectSidecar(push, proxy) ?? null));
  return found ?? undefined;
}

function selectSidecar(push: PushContext, proxy: Proxy): ConfigEntry<SidecarSpec> | undefined {
  const sidecars = push.sidecars as readonly ConfigEntry<unknown>[] as readonly ConfigEntry<SidecarSpec>[];
  const inNamespace = sidecars.filter((s) => s.namespace === proxy.namespace);
  const selecting = inNamespace.find(
    (s) =>
      s.spec.workloadSelector?.labels !== undefined &&
      selectorMatches(s.spec.workloadSelector.labels, proxy.labels),
  );
  return (
    selecting ??
    inNamespace.find((s) => s.spec.workloadSelector === undefined) ??
    sidecars.find((s) => s.namespace === ROOT_NAMESPACE && s.spec.workloadSelector === undefined)
  );
}

/**
 * Whether a service is among the Sidecar's egress hosts ("namespace/dnsName": namespace `*` any, `.` the
 * Sidecar's own, `~` none; dnsName `*`, `*.suffix` or exact). Port-specific egress listeners still bound the
 * hosts the proxy knows, so every listener's hosts count.
 */
export function egressAllows(sidecar: ConfigEntry<SidecarSpec>, service: Service): boolean {
  for (const listener of sidecar.spec.egress ?? []) {
    for (const entry of listener.hosts ?? []) {
      const slash = entry.indexOf('/');
      const ns = slash < 0 ? '*' : entry.slice(0, slash);
      const host = slash < 0 ? entry : entry.slice(slash + 1);
      if (ns === '~') continue;
      const nsMatches = ns === '*' || (ns === '.' ? sidecar.namespace : ns) === service.namespace;
      if (nsMatches && hostMatches(host, service.hostname)) return true;
    }
  }
  return false;
}

function hostMatches(pattern: string, hostname: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return hostname.endsWith(pattern.slice(1));
  return pattern === hostname;
}

/** The services the proxy's outbound side knows: those visible to its namespace, narrowed by its Sidecar. */
export function scopedServices(push: PushContext, proxy: Proxy): Service[] {
  const visible = push.servicesFor(proxy.namespace);
  const sidecar = sidecarFor(push, proxy);
  if (!sidecar?.spec.egress?.length) return visible;
  let byScope = scopedOf.get(push);
  if (!byScope) scopedOf.set(push, (byScope = new Map()));
  const key = `${proxy.namespace}|${sidecar.namespace}/${sidecar.name}`;
  let scoped = byScope.get(key);
  if (!scoped) byScope.set(key, (scoped = visible.filter((s) => egressAllows(sidecar, s))));
  return scoped;
}

/** The mesh config as it applies to this proxy: its Sidecar's outboundTrafficPolicy overrides the mesh's. */
export function meshConfigFor(push: PushContext, proxy: Proxy, mesh: MeshConfig): MeshConfig {
  const mode = sidecarFor(push, proxy)?.spec.outboundTrafficPolicy?.mode;
  return mode ? { ...mesh, outboundTrafficPolicy: { mode } } : mesh;
}

/** Identifies the Sidecar in force, for cache keys ("-" for none). */
export function sidecarKey(push: PushContext, proxy: Proxy): string {
  const s = sidecarFor(push, proxy);
  return s ? `${s.namespace}/${s.name}` : '-';
}

import type { core, protobufDuration } from '@flotilla/proto';
import { isVisibleFrom, selectorMatches } from '@flotilla/registry';
import type { Endpoint, Service, ServiceRegistry } from '@flotilla/registry';
import type { ConfigEntry, ConfigStore } from '../config-store';
import type { AuthorizationPolicySpec, DestinationRuleSpec, VirtualServiceSpec } from './istio-types';

/** Istio's root namespace: its DestinationRules and AuthorizationPolicies apply mesh-wide. */
export const ROOT_NAMESPACE = 'istio-system';

/** The prefix of the listener names an xDS-enabled gRPC server asks for (Istio's grpcxds.ServerListenerNamePrefix). */
export const SERVER_LISTENER_PREFIX = 'xds.istio.io/grpc/lds/inbound/';

/** A connected node as the generators see it, from its id ("type~ip~pod.namespace~domain") and metadata. */
export interface Proxy {
  id: string;
  type: string;
  ips: string[];
  namespace: string;
  labels: Record<string, string>;
  /** node metadata GENERATOR: "grpc" for proxyless gRPC; anything else is an Envoy. */
  generator: string;
  /** The DNS domain: "<namespace>.svc.<suffix>". */
  dnsDomain: string;
}

const labelKeys = new WeakMap<Proxy, string>();

/** The proxy's labels as one string (sorted JSON), made once per proxy: part of cache keys for label-scoped config. */
export function labelsKey(proxy: Proxy): string {
  let key = labelKeys.get(proxy);
  if (key === undefined) {
    key = JSON.stringify(Object.entries(proxy.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    labelKeys.set(proxy, key);
  }
  return key;
}

export function proxyOf(node: core.Node, domainSuffix = 'cluster.local'): Proxy {
  const parts = node.id.split('~');
  const metadata = (node.metadata ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const fromPod = parts[2]?.includes('.') ? parts[2].slice(parts[2].indexOf('.') + 1) : undefined;
  const fromDomain = parts[3]?.split('.')[0] || undefined;
  const namespace = str(metadata['NAMESPACE']) || fromPod || fromDomain || 'default';
  const instanceIps = str(metadata['INSTANCE_IPS'])
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const labelsValue = metadata['LABELS'];
  const labels: Record<string, string> = {};
  if (labelsValue && typeof labelsValue === 'object' && !Array.isArray(labelsValue)) {
    for (const [k, v] of Object.entries(labelsValue)) if (typeof v === 'string') labels[k] = v;
  }
  return {
    id: node.id,
    type: parts.length >= 4 ? parts[0] : 'sidecar',
    ips: instanceIps?.length ? instanceIps : parts.length >= 4 && parts[1] ? [parts[1]] : [],
    namespace,
    labels,
    generator: str(metadata['GENERATOR']) ?? '',
    dnsDomain: parts[3] || `${namespace}.svc.${domainSuffix}`,
  };
}

/** Istio's cluster naming: "outbound|<port>|<subset>|<host>". */
export function clusterName(host: string, port: number, subset = '', direction = 'outbound'): string {
  return `${direction}|${port}|${subset}|${host}`;
}

export interface ParsedClusterName {
  readonly direction: string;
  readonly port: number;
  readonly subset: string;
  readonly host: string;
}

/**
 * The names in code-unit order, as generators emit resources (deterministic output). A push asks each proxy for
 * a handful of names, thousands of times: an insertion sort of a fresh array allocates less than spreading into
 * an array and calling Array#sort, which showed in an endpoint push's garbage.
 */
export function sortedNames(names: Iterable<string>): string[] {
  const out: string[] = [];
  for (const name of names) {
    let at = out.length;
    while (at > 0 && out[at - 1] > name) {
      out[at] = out[at - 1];
      at--;
    }
    out[at] = name;
  }
  return out;
}

/**
 * Parsed cluster names, shared: every proxy's push parses the same few thousand names again. Cleared whole when
 * it grows past its bound (names of services long gone would otherwise stay).
 */
const parsedClusterNames = new Map<string, ParsedClusterName | null>();
const PARSED_CLUSTER_NAMES_MAX = 100_000;

export function parseClusterName(name: string): ParsedClusterName | undefined {
  const known = parsedClusterNames.get(name);
  if (known !== undefined) return known ?? undefined;
  const parts = name.split('|');
  const port = parts.length === 4 ? Number(parts[1]) : NaN;
  const parsed =
    Number.isInteger(port) && port > 0 && parts[3]
      ? { direction: parts[0], port, subset: parts[2], host: parts[3] }
      : null;
  if (parsedClusterNames.size >= PARSED_CLUSTER_NAMES_MAX) parsedClusterNames.clear();
  parsedClusterNames.set(name, parsed);
  return parsed ?? undefined;
}

/** "<host>:<port>": the name of an outbound API listener and of its route configuration. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function splitHostPort(name: string): { host: string; port?: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(name);
  if (bracketed) return { host: bracketed[1], port: bracketed[2] ? Number(bracketed[2]) : undefined };
  const i = name.lastIndexOf(':');
  if (i < 0) return { host: name };
  const port = Number(name.slice(i + 1));
  if (!/^\d+$/.test(name.slice(i + 1)) || port <= 0 || port > 65535) return undefined;
  return { host: name.slice(0, i), port };
}

/**
 * Istio's short-name resolution: a name without dots is "<name>.<namespace>.svc.<suffix>"; anything else is
 * taken as written.
 */
export function resolveHost(name: string, namespace: string, domainSuffix: string): string {
  if (name.includes('.') || name === '*') return name;
  return `${name}.${namespace}.svc.${domainSuffix}`;
}

/** Whether a config host (possibly "*.suffix" or "*") matches a service hostname. */
export function hostMatches(pattern: string, hostname: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return hostname.endsWith(pattern.slice(1));
  return pattern === hostname;
}

/** An Istio duration ("1h2m3.5s", "500ms", "2s") as a protobuf Duration; undefined when absent or invalid. */
export function parseDuration(value: string | undefined): protobufDuration.Duration | undefined {
  if (!value) return undefined;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;
  let ms = 0;
  let consumed = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const n = Number(m[1]);
    const unit = m[2];
    ms +=
      unit === 'h'
        ? n * 3_600_000
        : unit === 'm'
          ? n * 60_000
          : unit === 's'
            ? n * 1000
            : unit === 'ms'
              ? n
              : unit === 'ns'
                ? n / 1e6
                : n / 1000;
    consumed += m[0].length;
  }
  if (consumed !== value.length) return undefined;
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

function visibleConfig(exportTo: string[] | undefined, configNamespace: string, from: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((ns) => ns === '*' || ns === from || (ns === '.' && from === configNamespace));
}

/**
 * One generation of config and services, indexed for the generators: VirtualServices and DestinationRules by
 * the hostname they resolve to. Endpoints are read live from the registry (an endpoint-only change does not
 * rebuild it). Immutable once built; a config or service change builds a new one.
 */
export class PushContext {
  private readonly servicesByHost = new Map<string, Service>();
  private readonly virtualServices: IndexedByHost<VirtualServiceSpec>;
  private readonly destinationRules: IndexedByHost<DestinationRuleSpec>;
  private readonly authorizationPolicies: ConfigEntry<AuthorizationPolicySpec>[];
  /** Every VirtualService, gateway-bound and delegate ones included, in namespace/name order. */
  readonly allVirtualServices: ConfigEntry<VirtualServiceSpec>[];
  /** Every Gateway, in namespace/name order (their specs as galley validated them). */
  readonly gateways: ConfigEntry[];
  /** The PeerAuthentications and RequestAuthentications of this generation (the Envoy generator's authn inputs). */
  readonly peerAuthentications: readonly ConfigEntry[];
  readonly requestAuthentications: readonly ConfigEntry[];
  /** The Sidecar resources of this generation, in namespace/name order (the Envoy generator's scoping). */
  readonly sidecars: readonly ConfigEntry[];
  private readonly vsCache = new Map<string, ConfigEntry<VirtualServiceSpec>[]>();
  /** By proxy namespace, then hostname (nested rather than a joined key: no string is built per lookup). */
  private readonly drCache = new Map<string, Map<string, ConfigEntry<DestinationRuleSpec> | null>>();
  private readonly visibleServices = new Map<string, Service[]>();

  constructor(
    /** Identifies this generation in cache keys. */
    readonly version: string,
    readonly registry: ServiceRegistry,
    store: ConfigStore,
    readonly domainSuffix = 'cluster.local',
    /** Per hostname, a token that changes whenever its endpoints change (part of EDS cache keys). */
    private readonly endpointVersions: (hostname: string) => string = () => '0',
    /**
     * Per hostname, a token that changes whenever config or services its resources are built from change (see
     * MeshModel.hostVersion); without it, the generation's version, which changes with anything.
     */
    private readonly hostVersions: (hostname: string) => string = () => version,
  ) {
    for (const s of registry.services()) this.servicesByHost.set(s.hostname, s);
    this.allVirtualServices = store.list<VirtualServiceSpec>('VirtualService');
    this.gateways = store.list('Gateway');
    this.virtualServices = new IndexedByHost(
      this.allVirtualServices
        // Only sidecar (mesh) VirtualServices: those bound to gateways alone are the gateways' business.
        .filter((vs) => !vs.spec.gateways?.length || vs.spec.gateways.includes('mesh')),
      (vs) => (vs.spec.hosts ?? []).map((h) => resolveHost(h, vs.namespace, domainSuffix)),
    );
    this.destinationRules = new IndexedByHost(store.list<DestinationRuleSpec>('DestinationRule'), (dr) => [
      resolveHost(dr.spec.host, dr.namespace, domainSuffix),
    ]);
    this.authorizationPolicies = store.list<AuthorizationPolicySpec>('AuthorizationPolicy');
    this.peerAuthentications = store.list('PeerAuthentication');
    this.requestAuthentications = store.list('RequestAuthentication');
    this.sidecars = store.list('Sidecar');
  }

  service(hostname: string): Service | undefined {
    return this.servicesByHost.get(hostname);
  }

  /** The services a proxy in `namespace` may see (exportTo), in hostname order (one shared array: do not modify). */
  servicesFor(namespace: string): Service[] {
    let visible = this.visibleServices.get(namespace);
    if (!visible) {
      visible = [...this.servicesByHost.values()]
        .filter((s) => isVisibleFrom(s, namespace))
        .sort((a, b) => a.hostname.localeCompare(b.hostname));
      this.visibleServices.set(namespace, visible);
    }
    return visible;
  }

  endpointVersion(hostname: string): string {
    return this.endpointVersions(hostname);
  }

  /** The version of what the resources of `hostname` are built from (part of their cache keys). */
  hostVersion(hostname: string): string {
    return this.hostVersions(hostname);
  }

  endpoints(hostname: string, port: number): Endpoint[] {
    return this.registry.endpoints(hostname, port);
  }

  /** The VirtualServices visible from `namespace` that name `hostname`, in namespace/name order. */
  virtualServicesFor(hostname: string, namespace: string): ConfigEntry<VirtualServiceSpec>[] {
    const key = `${namespace}\0${hostname}`;
    let hit = this.vsCache.get(key);
    if (!hit) {
      hit = this.virtualServices
        .candidates(hostname)
        .filter((vs) => visibleConfig(vs.spec.exportTo, vs.namespace, namespace));
      this.vsCache.set(key, hit);
    }
    return hit;
  }

  /**
   * The DestinationRule for `hostname` as a proxy in `namespace` sees it (Istio's lookup order): one in the
   * proxy's namespace, then one in the service's namespace, then one in the root namespace; an exact host
   * before a wildcard.
   */
  destinationRuleFor(hostname: string, namespace: string): ConfigEntry<DestinationRuleSpec> | undefined {
    let byHost = this.drCache.get(namespace);
    if (!byHost) this.drCache.set(namespace, (byHost = new Map()));
    const cached = byHost.get(hostname);
    if (cached !== undefined) return cached ?? undefined;
    const serviceNamespace = this.service(hostname)?.namespace;
    const candidates = this.destinationRules
      .candidates(hostname)
      .filter((dr) => visibleConfig(dr.spec.exportTo, dr.namespace, namespace));
    const rank = (dr: ConfigEntry<DestinationRuleSpec>) => {
      const nsRank =
        dr.namespace === namespace
          ? 0
          : dr.namespace === serviceNamespace
            ? 1
            : dr.namespace === ROOT_NAMESPACE
              ? 2
              : 3;
      const exact = resolveHost(dr.spec.host, dr.namespace, this.domainSuffix) === hostname ? 0 : 1;
      return nsRank * 2 + exact;
    };
    const best = candidates.sort((a, b) => rank(a) - rank(b))[0];
    byHost.set(hostname, best ?? null);
    return best;
  }

  /**
   * The AuthorizationPolicies that apply to a workload with `labels` in `namespace`: those of its namespace
   * selecting it (or selecting nothing) and those of the root namespace.
   */
  authorizationPoliciesFor(
    namespace: string,
    labels: Record<string, string>,
  ): ConfigEntry<AuthorizationPolicySpec>[] {
    return this.authorizationPolicies.filter((p) => {
      if (p.namespace !== namespace && p.namespace !== ROOT_NAMESPACE) return false;
      const selector = p.spec.selector?.matchLabels;
      return !selector || Object.keys(selector).length === 0 || selectorMatches(selector, labels);
    });
  }
}

/**
 * Config objects found by the hostnames they name: exact hosts through a map, wildcard hosts ("*", "*.suffix")
 * by matching. Candidates keep the objects' original order, which callers rely on (namespace/name order).
 */
class IndexedByHost<Spec> {
  private readonly exact = new Map<string, number[]>();
  private readonly wildcard: { pattern: string; index: number }[] = [];

  constructor(
    private readonly entries: ConfigEntry<Spec>[],
    hostsOf: (entry: ConfigEntry<Spec>) => string[],
  ) {
    entries.forEach((entry, index) => {
      for (const host of new Set(hostsOf(entry))) {
        if (host.includes('*')) {
          this.wildcard.push({ pattern: host, index });
          continue;
        }
        let list = this.exact.get(host);
        if (!list) this.exact.set(host, (list = []));
        list.push(index);
      }
    });
  }

  candidates(hostname: string): ConfigEntry<Spec>[] {
    const indexes = new Set(this.exact.get(hostname) ?? []);
    for (const { pattern, index } of this.wildcard) if (hostMatches(pattern, hostname)) indexes.add(index);
    return [...indexes].sort((a, b) => a - b).map((i) => this.entries[i]);
  }
}

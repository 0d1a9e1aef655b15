import type { McpResource } from '@flotilla/mcp';
import { unpackJsonBody } from '@flotilla/mcp';
import { AggregateRegistry, KubernetesRegistry, ServiceEntryRegistry } from '@flotilla/registry';
import type {
  ConfigObject,
  KubeEndpointSlice,
  KubePod,
  KubeService,
  KubernetesInputs,
  ServiceEntryInputs,
  ServiceEntrySpec,
  WorkloadEntrySpec,
} from '@flotilla/registry';
import { CONFIG_KINDS, ConfigStore } from './config-store';
import type { ConfigChange, ConfigEntry, ConfigKind } from './config-store';
import type { DestinationRuleSpec, VirtualServiceSpec } from './generators/istio-types';
import { PushContext, hostMatches, resolveHost } from './generators/model';

/** The MCP collections pilot subscribes to (galley's names). */
export const COLLECTIONS = {
  ServiceEntry: 'networking.istio.io/v1alpha3/ServiceEntry',
  WorkloadEntry: 'networking.istio.io/v1alpha3/WorkloadEntry',
  WorkloadGroup: 'networking.istio.io/v1alpha3/WorkloadGroup',
  VirtualService: 'networking.istio.io/v1alpha3/VirtualService',
  DestinationRule: 'networking.istio.io/v1alpha3/DestinationRule',
  Sidecar: 'networking.istio.io/v1alpha3/Sidecar',
  Gateway: 'networking.istio.io/v1alpha3/Gateway',
  AuthorizationPolicy: 'security.istio.io/v1beta1/AuthorizationPolicy',
  PeerAuthentication: 'security.istio.io/v1beta1/PeerAuthentication',
  RequestAuthentication: 'security.istio.io/v1beta1/RequestAuthentication',
  Service: 'core/v1/Service',
  EndpointSlice: 'discovery.k8s.io/v1/EndpointSlice',
  Pod: 'core/v1/Pod',
  Namespace: 'core/v1/Namespace',
} as const;

export const PILOT_COLLECTIONS: readonly string[] = Object.values(COLLECTIONS);

/** One xDS concern of a host that a change may alter. */
export type HostOutput = 'listeners' | 'routes' | 'clusters' | 'endpoints';

/**
 * What a config or service change may alter (Istio's ConfigsUpdated, resolved to hosts): the `outputs` of these
 * hostnames, and the proxies' inbound (server) listeners when `inbound`, since those follow services and endpoints.
 */
export interface ConfigScope {
  hosts: ReadonlySet<string>;
  outputs: ReadonlySet<HostOutput>;
  inbound: boolean;
}

/**
 * What a change means for pushes: config or services changed (only what `scope` names, or anything without a
 * scope), or only the endpoints of some hostnames.
 */
export type MeshChange =
  | { kind: 'config'; reason: 'config' | 'service'; scope?: ConfigScope }
  | { kind: 'endpoints'; hosts: ReadonlySet<string> };

const ALL_OUTPUTS: ReadonlySet<HostOutput> = new Set(['listeners', 'routes', 'clusters', 'endpoints']);
/** A VirtualService shapes routes only (faults included: outbound listeners always carry the fault filter). */
const VIRTUAL_SERVICE_OUTPUTS: ReadonlySet<HostOutput> = new Set(['routes']);
/** A DestinationRule shapes clusters, subset endpoints, and the hash policy of routes to its host. */
const DESTINATION_RULE_OUTPUTS: ReadonlySet<HostOutput> = new Set(['routes', 'clusters', 'endpoints']);

export interface MeshModelOptions {
  domainSuffix?: string;
  trustDomain?: string;
}

/** An MCP resource as a Kubernetes-style object: metadata from its name and labels, the body as the rest. */
function objectOf(resource: McpResource): {
  metadata: ConfigObject<unknown>['metadata'];
  body: Record<string, unknown>;
} {
  const slash = resource.name.indexOf('/');
  const namespace = slash > 0 ? resource.name.slice(0, slash) : undefined;
  const name = slash >= 0 ? resource.name.slice(slash + 1) : resource.name;
  return {
    metadata: { name, namespace, labels: resource.labels },
    body: unpackJsonBody(resource.body) as Record<string, unknown>,
  };
}

/**
 * Pilot's view of the mesh: the config store (VirtualService, DestinationRule, Sidecar, Gateway,
 * AuthorizationPolicy, PeerAuthentication) and the service registry (ServiceEntry + WorkloadEntry, Kubernetes
 * Service + EndpointSlice + Pod, aggregated with Kubernetes first), fed collection by collection from galley over
 * MCP. Listeners hear what a change may alter: the resources of some hosts (a VirtualService, a DestinationRule, a
 * service), everything (other config kinds), or only the endpoints of some hosts.
 */
export class MeshModel {
  readonly store = new ConfigStore();
  readonly serviceEntries: ServiceEntryRegistry;
  readonly kubernetes: KubernetesRegistry;
  readonly registry: AggregateRegistry;
  readonly domainSuffix: string;
  private readonly seInputs: ServiceEntryInputs = { serviceEntries: [], workloadEntries: [] };
  private readonly kubeInputs: KubernetesInputs = { services: [], endpointSlices: [], pods: [] };
  /** Bumped by every config or service change: the push context's version. */
  private generation = 0;
  /** Bumped by changes that may alter anything (unscoped); part of every host's version. */
  private globalGeneration = 0;
  /** Per hostname, bumped by every scoped change naming it (see `hostVersion`). */
  private readonly hostGenerations = new Map<string, number>();
  private current: PushContext | undefined;
  /** Per hostname, bumped by every endpoint change of it; kept as the version string generators read. */
  private readonly endpointVersions = new Map<string, string>();
  /**
   * hostVersion's strings, made once per host and generation: a push asks for them for every resource of every
   * proxy, and a fresh string per call was a good part of an endpoint push's garbage.
   */
  private readonly hostVersionStrings = new Map<string, string>();
  /** Per collection and resource name, the last resource and what was made of it, reused while unchanged. */
  private readonly parsed = new Map<string, Map<string, { resource: McpResource; value: unknown }>>();
  private readonly listeners = new Set<(change: MeshChange) => void>();

  constructor(options: MeshModelOptions = {}) {
    this.domainSuffix = options.domainSuffix ?? 'cluster.local';
    const trustDomain = options.trustDomain ?? 'cluster.local';
    this.serviceEntries = new ServiceEntryRegistry(trustDomain);
    this.kubernetes = new KubernetesRegistry(this.domainSuffix, trustDomain);
    this.registry = new AggregateRegistry([this.kubernetes, this.serviceEntries]);
    this.registry.onChange((change) => {
      for (const host of change.endpoints) {
        this.endpointVersions.set(host, String(Number(this.endpointVersions.get(host) ?? 0) + 1));
      }
      if (change.services.size > 0) {
        // A service shapes all of its own resources, the routes of hosts routing to it (their destination port),
        // and the inbound listeners of its workloads.
        const hosts = new Set([...change.services, ...this.hostsRoutingTo(change.services)]);
        this.configChanged('service', { hosts, outputs: ALL_OUTPUTS, inbound: true });
      } else if (change.endpoints.size > 0) {
        this.emit({ kind: 'endpoints', hosts: new Set(change.endpoints) });
      }
    });
  }

  onChange(listener: (change: MeshChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current generation of config and services (rebuilt lazily after a change). */
  pushContext(): PushContext {
    if (!this.current) {
      this.current = new PushContext(
        `${this.store.generation}.${this.generation}`,
        this.registry,
        this.store,
        this.domainSuffix,
        (host) => this.endpointVersions.get(host) ?? '0',
        (host) => this.hostVersion(host),
      );
    }
    return this.current;
  }

  /**
   * A token that changes whenever anything the resources of `hostname` are built from may have changed: its
   * service, the VirtualServices and DestinationRules naming it, and the services and DestinationRules its routes
   * lead to. Generators key shared encodings by it, so a change to one host re-encodes that host alone.
   */
  hostVersion(hostname: string): string {
    let version = this.hostVersionStrings.get(hostname);
    if (version === undefined) {
      version = `${this.globalGeneration}.${this.hostGenerations.get(hostname) ?? 0}`;
      this.hostVersionStrings.set(hostname, version);
    }
    return version;
  }

  /** Takes a collection's full content (as McpSink's `change` event gives it). Unknown collections are ignored. */
  apply(collection: string, resources: readonly McpResource[]): void {
    const kind = (Object.keys(COLLECTIONS) as (keyof typeof COLLECTIONS)[]).find(
      (k) => COLLECTIONS[k] === collection,
    );
    if (!kind) return;
    const objects = <T>(make: (o: ReturnType<typeof objectOf>, r: McpResource) => T): T[] =>
      this.reuse(collection, resources, (r) => make(objectOf(r), r));
    switch (kind) {
      case 'ServiceEntry':
        this.seInputs.serviceEntries = objects((o) => ({
          metadata: o.metadata,
          spec: o.body as ServiceEntrySpec,
        }));
        this.serviceEntries.update(this.seInputs);
        return;
      case 'WorkloadEntry':
        this.seInputs.workloadEntries = objects((o) => ({
          metadata: o.metadata,
          spec: o.body as WorkloadEntrySpec,
        }));
        this.serviceEntries.update(this.seInputs);
        return;
      case 'Service':
        this.kubeInputs.services = objects((o) => ({ metadata: o.metadata, ...o.body }) as KubeService);
        this.kubernetes.update(this.kubeInputs);
        return;
      case 'EndpointSlice':
        this.kubeInputs.endpointSlices = objects(
          (o) => ({ metadata: o.metadata, ...o.body }) as KubeEndpointSlice,
        );
        this.kubernetes.update(this.kubeInputs);
        return;
      case 'Pod':
        this.kubeInputs.pods = objects((o) => ({ metadata: o.metadata, ...o.body }) as KubePod);
        this.kubernetes.update(this.kubeInputs);
        return;
      case 'WorkloadGroup':
      case 'Namespace':
        // Held by galley; nothing pilot generates depends on them yet.
        return;
      default: {
        if (!(CONFIG_KINDS as readonly string[]).includes(kind)) return;
        const configKind = kind as ConfigKind;
        const entries: ConfigEntry[] = objects((o, r) => ({
          kind: configKind,
          namespace: o.metadata.namespace ?? 'default',
          name: o.metadata.name,
          labels: r.labels,
          annotations: r.annotations,
          version: r.version,
          spec: o.body,
        }));
        const changed = this.store.replace(configKind, entries);
        if (changed.length === 0) return;
        this.configChanged('config', this.scopeOf(configKind, changed));
      }
    }
  }

  /**
   * What `make` builds from each resource, reusing the previous result for a resource that is the same object as
   * last time or carries the same non-empty version: unpacking is skipped, and the registries and the config store
   * recognise unchanged objects by identity.
   */
  private reuse<T>(collection: string, resources: readonly McpResource[], make: (r: McpResource) => T): T[] {
    const before =
      this.parsed.get(collection) ?? new Map<string, { resource: McpResource; value: unknown }>();
    const next = new Map<string, { resource: McpResource; value: unknown }>();
    const out = resources.map((resource) => {
      const last = before.get(resource.name);
      const same =
        last !== undefined &&
        (last.resource === resource ||
          (resource.version !== '' &&
            last.resource.version === resource.version &&
            sameLabels(last.resource, resource)));
      const value = same ? (last.value as T) : make(resource);
      next.set(resource.name, { resource, value });
      return value;
    });
    this.parsed.set(collection, next);
    return out;
  }

  /**
   * The hosts a change of config objects concerns, or undefined for kinds whose effect pilot does not scope
   * (every kind but VirtualService and DestinationRule: Sidecar, Gateway, the security policies; every proxy is
   * pushed).
   */
  private scopeOf(kind: ConfigKind, changes: readonly ConfigChange[]): ConfigScope | undefined {
    const patterns = new Set<string>();
    // Both versions of every changed object: the hosts it named before and those it names now.
    const entries = changes.flatMap((c) => [c.before, c.after]).filter((e) => e !== undefined);
    const add = (namespace: string, hosts: readonly string[] | undefined) => {
      for (const h of hosts ?? []) patterns.add(resolveHost(h, namespace, this.domainSuffix));
    };
    if (kind === 'VirtualService') {
      const virtualServices = entries as ConfigEntry<unknown>[] as ConfigEntry<VirtualServiceSpec>[];
      for (const vs of virtualServices) add(vs.namespace, vs.spec.hosts);
      return { hosts: this.expand(patterns), outputs: VIRTUAL_SERVICE_OUTPUTS, inbound: false };
    }
    if (kind === 'DestinationRule') {
      for (const dr of entries as ConfigEntry<unknown>[] as ConfigEntry<DestinationRuleSpec>[]) {
        add(dr.namespace, [dr.spec.host]);
      }
      const targets = this.expand(patterns);
      const hosts = new Set([...targets, ...this.hostsRoutingTo(targets)]);
      return { hosts, outputs: DESTINATION_RULE_OUTPUTS, inbound: false };
    }
    return undefined;
  }

  /** Host patterns ("*.example.com") as the known hostnames they match; exact names as they are. */
  private expand(patterns: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    let services: string[] | undefined;
    for (const pattern of patterns) {
      if (!pattern.includes('*')) {
        out.add(pattern);
        continue;
      }
      services ??= this.registry.services().map((s) => s.hostname);
      for (const host of services) if (hostMatches(pattern, host)) out.add(host);
    }
    return out;
  }

  /** The hosts whose VirtualServices route to any of `targets` (their routes name those hosts' clusters). */
  private hostsRoutingTo(targets: ReadonlySet<string>): Set<string> {
    const patterns = new Set<string>();
    for (const vs of this.store.list<VirtualServiceSpec>('VirtualService')) {
      const routesToTarget = (vs.spec.http ?? []).some((http) =>
        (http.route ?? []).some((d) =>
          targets.has(resolveHost(d.destination.host, vs.namespace, this.domainSuffix)),
        ),
      );
      if (!routesToTarget) continue;
      for (const h of vs.spec.hosts ?? []) patterns.add(resolveHost(h, vs.namespace, this.domainSuffix));
    }
    return this.expand(patterns);
  }

  /** A new generation: scoped to some hosts (their versions move on), or global. */
  private configChanged(reason: 'config' | 'service', scope: ConfigScope | undefined): void {
    this.generation++;
    if (scope) {
      for (const host of scope.hosts) {
        this.hostGenerations.set(host, (this.hostGenerations.get(host) ?? 0) + 1);
        this.hostVersionStrings.delete(host);
      }
    } else {
      this.globalGeneration++;
      this.hostVersionStrings.clear();
    }
    this.current = undefined;
    this.emit(scope ? { kind: 'config', reason, scope } : { kind: 'config', reason });
  }

  private emit(change: MeshChange): void {
    for (const l of this.listeners) l(change);
  }
}

function sameLabels(a: McpResource, b: McpResource): boolean {
  return JSON.stringify([a.labels, a.annotations]) === JSON.stringify([b.labels, b.annotations]);
}

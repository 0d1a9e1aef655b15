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
import type { ConfigEntry, ConfigKind } from './config-store';
import { PushContext } from './generators/model';

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
  Service: 'core/v1/Service',
  EndpointSlice: 'discovery.k8s.io/v1/EndpointSlice',
  Pod: 'core/v1/Pod',
  Namespace: 'core/v1/Namespace',
} as const;

export const PILOT_COLLECTIONS: readonly string[] = Object.values(COLLECTIONS);

/** What a change means for pushes: config (or services) changed, or only the endpoints of some hostnames. */
export type MeshChange =
  { kind: 'config'; reason: 'config' | 'service' } | { kind: 'endpoints'; hosts: ReadonlySet<string> };

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
 * MCP. Listeners hear whether a change needs a full push or only endpoint updates for some hostnames.
 */
export class MeshModel {
  readonly store = new ConfigStore();
  readonly serviceEntries: ServiceEntryRegistry;
  readonly kubernetes: KubernetesRegistry;
  readonly registry: AggregateRegistry;
  readonly domainSuffix: string;
  private readonly seInputs: ServiceEntryInputs = { serviceEntries: [], workloadEntries: [] };
  private readonly kubeInputs: KubernetesInputs = { services: [], endpointSlices: [], pods: [] };
  private serviceGeneration = 0;
  private current: PushContext | undefined;
  private readonly endpointGenerations = new Map<string, number>();
  private readonly listeners = new Set<(change: MeshChange) => void>();

  constructor(options: MeshModelOptions = {}) {
    this.domainSuffix = options.domainSuffix ?? 'cluster.local';
    const trustDomain = options.trustDomain ?? 'cluster.local';
    this.serviceEntries = new ServiceEntryRegistry(trustDomain);
    this.kubernetes = new KubernetesRegistry(this.domainSuffix, trustDomain);
    this.registry = new AggregateRegistry([this.kubernetes, this.serviceEntries]);
    this.registry.onChange((change) => {
      for (const host of change.endpoints) {
        this.endpointGenerations.set(host, (this.endpointGenerations.get(host) ?? 0) + 1);
      }
      if (change.services.size > 0) {
        this.serviceGeneration++;
        this.current = undefined;
        this.emit({ kind: 'config', reason: 'service' });
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
        `${this.store.generation}.${this.serviceGeneration}`,
        this.registry,
        this.store,
        this.domainSuffix,
        (host) => String(this.endpointGenerations.get(host) ?? 0),
      );
    }
    return this.current;
  }

  /** Takes a collection's full content (as McpSink's `change` event gives it). Unknown collections are ignored. */
  apply(collection: string, resources: readonly McpResource[]): void {
    const kind = (Object.keys(COLLECTIONS) as (keyof typeof COLLECTIONS)[]).find(
      (k) => COLLECTIONS[k] === collection,
    );
    if (!kind) return;
    const objects = resources.map(objectOf);
    switch (kind) {
      case 'ServiceEntry':
        this.seInputs.serviceEntries = objects.map((o) => ({
          metadata: o.metadata,
          spec: o.body as ServiceEntrySpec,
        }));
        this.serviceEntries.update(this.seInputs);
        return;
      case 'WorkloadEntry':
        this.seInputs.workloadEntries = objects.map((o) => ({
          metadata: o.metadata,
          spec: o.body as WorkloadEntrySpec,
        }));
        this.serviceEntries.update(this.seInputs);
        return;
      case 'Service':
        this.kubeInputs.services = objects.map((o) => ({ metadata: o.metadata, ...o.body }) as KubeService);
        this.kubernetes.update(this.kubeInputs);
        return;
      case 'EndpointSlice':
        this.kubeInputs.endpointSlices = objects.map(
          (o) => ({ metadata: o.metadata, ...o.body }) as KubeEndpointSlice,
        );
        this.kubernetes.update(this.kubeInputs);
        return;
      case 'Pod':
        this.kubeInputs.pods = objects.map((o) => ({ metadata: o.metadata, ...o.body }) as KubePod);
        this.kubernetes.update(this.kubeInputs);
        return;
      case 'WorkloadGroup':
      case 'Namespace':
        // Held by galley; nothing pilot generates depends on them yet.
        return;
      default: {
        if (!(CONFIG_KINDS as readonly string[]).includes(kind)) return;
        const entries: ConfigEntry[] = resources.map((r, i) => ({
          kind: kind as ConfigKind,
          namespace: objects[i].metadata.namespace ?? 'default',
          name: objects[i].metadata.name,
          labels: r.labels,
          annotations: r.annotations,
          version: r.version,
          spec: objects[i].body,
        }));
        if (this.store.replace(kind as ConfigKind, entries)) {
          this.current = undefined;
          this.emit({ kind: 'config', reason: 'config' });
        }
      }
    }
  }

  private emit(change: MeshChange): void {
    for (const l of this.listeners) l(change);
  }
}

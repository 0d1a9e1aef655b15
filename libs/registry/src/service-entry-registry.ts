import { addEndpoint, MemoryRegistry } from './memory-registry';
import type { RegistryState } from './memory-registry';
import { parseLocality, selectorMatches, spiffeIdentity } from './model';
import type { Endpoint, HealthStatus, RegistryChange, Resolution, Service } from './model';
import { parseProtocol } from './protocol';

/** The parts of Istio objects the registry reads: metadata and the spec as JSON. */
export interface ConfigObject<Spec> {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Spec;
  status?: { conditions?: { type: string; status: string }[] };
}

/** networking.istio.io ServiceEntry spec (the fields the registry uses). */
export interface ServiceEntrySpec {
  hosts?: string[];
  addresses?: string[];
  ports?: { number: number; protocol?: string; name?: string; targetPort?: number }[];
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: Resolution;
  endpoints?: WorkloadEntrySpec[];
  workloadSelector?: { labels?: Record<string, string> };
  exportTo?: string[];
}

/** networking.istio.io WorkloadEntry spec (also a ServiceEntry's inline endpoint). */
export interface WorkloadEntrySpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

export interface ServiceEntryInputs {
  serviceEntries: ConfigObject<ServiceEntrySpec>[];
  workloadEntries: ConfigObject<WorkloadEntrySpec>[];
}

const DEFAULT_NAMESPACE = 'default';

type ServiceEntry = ConfigObject<ServiceEntrySpec>;
type WorkloadEntry = ConfigObject<WorkloadEntrySpec>;

/** A WorkloadEntry as the registry matches it: its namespace and its labels (metadata and spec merged) worked out once. */
interface Workload {
  entry: WorkloadEntry;
  namespace: string;
  labels: Record<string, string>;
}

/** One endpoint source of a ServiceEntry: a selected WorkloadEntry or an inline endpoint. */
interface EndpointSource {
  spec: WorkloadEntrySpec;
  source: string;
  health: HealthStatus;
  namespace: string;
}

/**
 * The local mesh's registry, from ServiceEntries and WorkloadEntries as Istio defines them: one Service per host
 * of a ServiceEntry; endpoints from its inline `endpoints`, or from the WorkloadEntries of its namespace that its
 * `workloadSelector` selects. An endpoint's `ports` map takes a port *name* to the workload's port; without it
 * the ServiceEntry port's `targetPort`, else its number, is used. A DNS ServiceEntry without endpoints resolves
 * its hosts themselves.
 *
 * Updates are incremental: `update` compares the new inputs with the last ones object by object and recomputes
 * only the hosts of the ServiceEntries that changed and of those selecting a WorkloadEntry that changed, so one
 * changed WorkloadEntry among thousands costs one service, and the change event names only that host.
 */
export class ServiceEntryRegistry extends MemoryRegistry {
  private serviceEntries = new Map<string, ServiceEntry>();
  private workloads = new Map<string, Workload>();
  /** Per host, the keys of the ServiceEntries naming it; the first in key order defines it. */
  private readonly claims = new Map<string, Set<string>>();

  constructor(private readonly trustDomain = 'cluster.local') {
    super('ServiceEntry');
  }

  /** Takes the full current inputs; returns the hostnames whose services or endpoints changed. */
  update(inputs: ServiceEntryInputs): RegistryChange {
    const nextEntries = new Map(inputs.serviceEntries.map((se) => [key(se), se]));
    const nextWorkloads = new Map<string, Workload>();
    for (const we of inputs.workloadEntries) {
      const k = key(we);
      const known = this.workloads.get(k);
      nextWorkloads.set(k, known?.entry === we ? known : this.workloadOf(we));
    }
    const dirty = new Set<string>();

    for (const k of new Set([...this.serviceEntries.keys(), ...nextEntries.keys()])) {
      const before = this.serviceEntries.get(k);
      const after = nextEntries.get(k);
      if (sameObject(before, after)) continue;
      for (const host of before?.spec.hosts ?? []) dirty.add(host);
      for (const host of after?.spec.hosts ?? []) dirty.add(host);
      for (const host of before?.spec.hosts ?? []) this.claims.get(host)?.delete(k);
      for (const host of after?.spec.hosts ?? []) {
        let claimants = this.claims.get(host);
        if (!claimants) this.claims.set(host, (claimants = new Set()));
        claimants.add(k);
      }
    }

    const changedWorkloads: Workload[] = [];
    for (const k of new Set([...this.workloads.keys(), ...nextWorkloads.keys()])) {
      const before = this.workloads.get(k);
      const after = nextWorkloads.get(k);
      if (sameObject(before?.entry, after?.entry)) continue;
      if (before) changedWorkloads.push(before);
      if (after) changedWorkloads.push(after);
    }
    if (changedWorkloads.length > 0) {
      for (const se of nextEntries.values()) {
        const selector = se.spec.workloadSelector?.labels;
        if (!selector) continue;
        const namespace = se.metadata.namespace ?? DEFAULT_NAMESPACE;
        if (changedWorkloads.some((w) => w.namespace === namespace && selectorMatches(selector, w.labels))) {
          for (const host of se.spec.hosts ?? []) dirty.add(host);
        }
      }
    }

    this.serviceEntries = nextEntries;
    this.workloads = nextWorkloads;
    const next: RegistryState = { services: new Map(), endpoints: new Map() };
    for (const host of dirty) {
      const claimants = this.claims.get(host);
      // Oldest first would be Istio's tie-break for one host in two ServiceEntries; we take key order.
      const owner = claimants && [...claimants].sort((a, b) => a.localeCompare(b))[0];
      if (owner === undefined) {
        this.claims.delete(host);
        continue;
      }
      this.computeHost(this.serviceEntries.get(owner)!, host, next);
    }
    return this.patch(dirty, next);
  }

  private workloadOf(entry: WorkloadEntry): Workload {
    return {
      entry,
      namespace: entry.metadata.namespace ?? DEFAULT_NAMESPACE,
      labels: { ...(entry.metadata.labels ?? {}), ...(entry.spec.labels ?? {}) },
    };
  }

  /** The endpoint sources of a ServiceEntry: the WorkloadEntries it selects, or its inline endpoints. */
  private sourcesOf(se: ServiceEntry, namespace: string): EndpointSource[] {
    const selector = se.spec.workloadSelector?.labels;
    if (selector) {
      const out: EndpointSource[] = [];
      for (const w of this.workloads.values()) {
        if (w.namespace !== namespace || !selectorMatches(selector, w.labels)) continue;
        out.push({
          spec: { ...w.entry.spec, labels: w.labels },
          source: `WorkloadEntry ${key(w.entry)}`,
          health: healthOf(w.entry),
          namespace,
        });
      }
      // Key order, so that the endpoints do not depend on the order the inputs came in.
      return out.sort((a, b) => a.source.localeCompare(b.source));
    }
    return (se.spec.endpoints ?? []).map((ep, i) => ({
      spec: ep,
      source: `ServiceEntry ${key(se)} endpoints[${i}]`,
      health: 'HEALTHY',
      namespace,
    }));
  }

  /** Adds the service `host` of `se` and its endpoints to `state`. */
  private computeHost(se: ServiceEntry, host: string, state: RegistryState): void {
    const namespace = se.metadata.namespace ?? DEFAULT_NAMESPACE;
    const spec = se.spec;
    const resolution = spec.resolution ?? 'NONE';
    const ports = (spec.ports ?? []).map((p) => ({
      name: p.name ?? `port-${p.number}`,
      port: p.number,
      protocol: parseProtocol(p.protocol),
      targetPort: p.targetPort,
    }));
    const exportTo = (spec.exportTo ?? ['*'])
      .map((ns) => (ns === '.' ? namespace : ns))
      .filter((ns) => ns !== '~');
    const service: Service = {
      hostname: host,
      namespace,
      ports: ports.map(({ name, port, protocol }) => ({ name, port, protocol })),
      exportTo,
      resolution,
      meshExternal: (spec.location ?? 'MESH_EXTERNAL') === 'MESH_EXTERNAL',
      addresses: spec.addresses ?? [],
      source: `ServiceEntry ${key(se)}`,
    };
    state.services.set(host, service);
    const sources = this.sourcesOf(se, namespace);
    for (const port of ports) {
      for (const w of sources) {
        if (!w.spec.address) continue;
        addEndpoint(
          state,
          this.endpoint(host, port.port, w.spec.ports?.[port.name] ?? port.targetPort ?? port.port, w),
        );
      }
      if (sources.length === 0 && resolution === 'DNS' && !host.startsWith('*')) {
        addEndpoint(state, {
          hostname: host,
          servicePort: port.port,
          address: host,
          port: port.targetPort ?? port.port,
          labels: {},
          locality: parseLocality(undefined),
          health: 'HEALTHY',
          weight: 1,
          source: `ServiceEntry ${key(se)} (DNS host)`,
        });
      }
    }
  }

  private endpoint(host: string, servicePort: number, port: number, w: EndpointSource): Endpoint {
    return {
      hostname: host,
      servicePort,
      address: w.spec.address!,
      port,
      labels: w.spec.labels ?? {},
      locality: parseLocality(w.spec.locality),
      health: w.health,
      identity: w.spec.serviceAccount
        ? spiffeIdentity(this.trustDomain, w.namespace, w.spec.serviceAccount)
        : undefined,
      weight: w.spec.weight && w.spec.weight > 0 ? w.spec.weight : 1,
      source: w.source,
    };
  }
}

/** Whether two inputs are the same object, or equal as JSON (galley sends whole collections, mostly unchanged). */
function sameObject(a: unknown, b: unknown): boolean {
  return a === b || (a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b));
}

function key(o: ConfigObject<unknown>): string {
  return `${o.metadata.namespace ?? DEFAULT_NAMESPACE}/${o.metadata.name}`;
}

/** Istio's health checking reports a WorkloadEntry's health as its status condition "Healthy". */
function healthOf(we: ConfigObject<WorkloadEntrySpec>): HealthStatus {
  const healthy = we.status?.conditions?.find((c) => c.type === 'Healthy');
  return healthy && healthy.status === 'False' ? 'UNHEALTHY' : 'HEALTHY';
}

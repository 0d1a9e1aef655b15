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
  /** "<namespace>/<name>" */
  key: string;
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
  /** The input arrays of the last update: an update that passes the same array again changed nothing there. */
  private lastServiceEntries: readonly ServiceEntry[] | undefined;
  private lastWorkloadEntries: readonly WorkloadEntry[] | undefined;
  /** The Workload made for each WorkloadEntry object (or for an equal one before it), so it is made once. */
  private workloadByEntry = new WeakMap<WorkloadEntry, Workload>();
  /** Workloads by `labelIndexKey` of each of their labels, and by namespace alone (`<namespace>\0`). */
  private readonly workloadIndex = new Map<string, Set<Workload>>();
  /** Keys of ServiceEntries with a workloadSelector, by `labelIndexKey` of each selector label (or namespace). */
  private readonly selectorIndex = new Map<string, Set<string>>();
  /** Per host, the keys of the ServiceEntries naming it; the first in key order defines it. */
  private readonly claims = new Map<string, Set<string>>();

  constructor(private readonly trustDomain = 'cluster.local') {
    super('ServiceEntry');
  }

  /**
   * Takes the full current inputs; returns the hostnames whose services or endpoints changed. Galley sends a
   * changed collection whole, so an update usually brings one new array (the other the same as last time) in
   * which a few objects are new: the work is proportional to those, through indexes of workloads and selectors by
   * label, rather than to the size of the mesh.
   */
  update(inputs: ServiceEntryInputs): RegistryChange {
    const dirty = new Set<string>();
    let nextEntries = this.serviceEntries;
    if (inputs.serviceEntries !== this.lastServiceEntries) {
      nextEntries = new Map(inputs.serviceEntries.map((se) => [key(se), se]));
      const changed = (k: string, before: ServiceEntry | undefined, after: ServiceEntry | undefined) => {
        for (const host of before?.spec.hosts ?? []) {
          dirty.add(host);
          this.claims.get(host)?.delete(k);
        }
        for (const host of after?.spec.hosts ?? []) {
          dirty.add(host);
          let claimants = this.claims.get(host);
          if (!claimants) this.claims.set(host, (claimants = new Set()));
          claimants.add(k);
        }
        if (before) indexSelector(this.selectorIndex, k, before, false);
        if (after) indexSelector(this.selectorIndex, k, after, true);
      };
      for (const [k, before] of this.serviceEntries) {
        const after = nextEntries.get(k);
        if (!sameObject(before, after)) changed(k, before, after);
      }
      for (const [k, after] of nextEntries) if (!this.serviceEntries.has(k)) changed(k, undefined, after);
      this.serviceEntries = nextEntries;
      this.lastServiceEntries = inputs.serviceEntries;
    }

    if (inputs.workloadEntries !== this.lastWorkloadEntries) {
      const nextWorkloads = new Map<string, Workload>();
      for (const we of inputs.workloadEntries) {
        const w = this.workloadByEntry.get(we) ?? this.workloadOf(we);
        nextWorkloads.set(w.key, w);
      }
      const changedWorkloads: Workload[] = [];
      for (const [k, before] of this.workloads) {
        const after = nextWorkloads.get(k);
        if (after === before) continue;
        if (after && sameObject(before.entry, after.entry)) {
          // An equal object: keep the Workload already indexed, and remember it for this object too.
          nextWorkloads.set(k, before);
          this.workloadByEntry.set(after.entry, before);
          continue;
        }
        changedWorkloads.push(before);
        indexWorkload(this.workloadIndex, before, false);
        if (after) {
          changedWorkloads.push(after);
          indexWorkload(this.workloadIndex, after, true);
        }
      }
      for (const [k, after] of nextWorkloads) {
        if (this.workloads.has(k)) continue;
        changedWorkloads.push(after);
        indexWorkload(this.workloadIndex, after, true);
      }
      // The hosts of the ServiceEntries selecting a workload that came, went or changed.
      for (const w of changedWorkloads) {
        for (const indexKey of [namespaceIndexKey(w.namespace), ...labelIndexKeys(w.namespace, w.labels)]) {
          for (const k of this.selectorIndex.get(indexKey) ?? []) {
            const se = nextEntries.get(k);
            if (se && selectorMatches(se.spec.workloadSelector?.labels, w.labels)) {
              for (const host of se.spec.hosts ?? []) dirty.add(host);
            }
          }
        }
      }
      this.workloads = nextWorkloads;
      this.lastWorkloadEntries = inputs.workloadEntries;
    }

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
    const workload = {
      entry,
      key: key(entry),
      namespace: entry.metadata.namespace ?? DEFAULT_NAMESPACE,
      labels: { ...(entry.metadata.labels ?? {}), ...(entry.spec.labels ?? {}) },
    };
    this.workloadByEntry.set(entry, workload);
    return workload;
  }

  /** The endpoint sources of a ServiceEntry: the WorkloadEntries it selects, or its inline endpoints. */
  private sourcesOf(se: ServiceEntry, namespace: string): EndpointSource[] {
    const selector = se.spec.workloadSelector?.labels;
    if (selector) {
      const out: EndpointSource[] = [];
      // The fewest candidates: the workloads carrying the selector's rarest label (or all of the namespace).
      let candidates = this.workloadIndex.get(namespaceIndexKey(namespace));
      for (const indexKey of labelIndexKeys(namespace, selector)) {
        const withLabel = this.workloadIndex.get(indexKey);
        if (!withLabel) {
          candidates = undefined;
          break;
        }
        if (!candidates || withLabel.size < candidates.size) candidates = withLabel;
      }
      for (const w of candidates ?? []) {
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

/** Where a workload with a label, or a selector asking for it, is indexed: "<namespace>\0<key>=<value>". */
function labelIndexKeys(namespace: string, labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([k, v]) => `${namespace}\0${k}=${v}`);
}

/** Where every workload of a namespace, and every selector without labels, is indexed. */
function namespaceIndexKey(namespace: string): string {
  return `${namespace}\0`;
}

function indexWorkload(index: Map<string, Set<Workload>>, w: Workload, add: boolean): void {
  for (const indexKey of [namespaceIndexKey(w.namespace), ...labelIndexKeys(w.namespace, w.labels)]) {
    updateIndex(index, indexKey, w, add);
  }
}

/** A ServiceEntry with a workloadSelector under each of its selector's labels, or under its namespace if none. */
function indexSelector(index: Map<string, Set<string>>, k: string, se: ServiceEntry, add: boolean): void {
  const selector = se.spec.workloadSelector?.labels;
  if (!selector) return;
  const namespace = se.metadata.namespace ?? DEFAULT_NAMESPACE;
  const keys = labelIndexKeys(namespace, selector);
  for (const indexKey of keys.length > 0 ? keys : [namespaceIndexKey(namespace)]) {
    updateIndex(index, indexKey, k, add);
  }
}

function updateIndex<T>(index: Map<string, Set<T>>, indexKey: string, value: T, add: boolean): void {
  let set = index.get(indexKey);
  if (add) {
    if (!set) index.set(indexKey, (set = new Set()));
    set.add(value);
  } else if (set) {
    set.delete(value);
    if (set.size === 0) index.delete(indexKey);
  }
}

import { addEndpoint, MemoryRegistry } from './memory-registry';
import type { RegistryState } from './memory-registry';
import { parseLocality, selectorMatches, spiffeIdentity } from './model';
import type { Endpoint, HealthStatus, Resolution, Service } from './model';
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

/**
 * The local mesh's registry, from ServiceEntries and WorkloadEntries as Istio defines them: one Service per host
 * of a ServiceEntry; endpoints from its inline `endpoints`, or from the WorkloadEntries of its namespace that its
 * `workloadSelector` selects. An endpoint's `ports` map takes a port *name* to the workload's port; without it
 * the ServiceEntry port's `targetPort`, else its number, is used. A DNS ServiceEntry without endpoints resolves
 * its hosts themselves.
 */
export class ServiceEntryRegistry extends MemoryRegistry {
  constructor(private readonly trustDomain = 'cluster.local') {
    super('ServiceEntry');
  }

  update(inputs: ServiceEntryInputs): void {
    this.replace(this.compute(inputs));
  }

  private compute({ serviceEntries, workloadEntries }: ServiceEntryInputs): RegistryState {
    const state: RegistryState = { services: new Map(), endpoints: new Map() };
    // Oldest first would be Istio's tie-break for one host in two ServiceEntries; we take name order.
    const ordered = [...serviceEntries].sort((a, b) => key(a).localeCompare(key(b)));
    for (const se of ordered) {
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
      const workloads: {
        spec: WorkloadEntrySpec;
        source: string;
        health: HealthStatus;
        namespace: string;
      }[] = [];
      if (spec.workloadSelector?.labels) {
        for (const we of workloadEntries) {
          const weNamespace = we.metadata.namespace ?? DEFAULT_NAMESPACE;
          const labels = { ...(we.metadata.labels ?? {}), ...(we.spec.labels ?? {}) };
          if (weNamespace !== namespace || !selectorMatches(spec.workloadSelector.labels, labels)) continue;
          workloads.push({
            spec: { ...we.spec, labels },
            source: `WorkloadEntry ${key(we)}`,
            health: healthOf(we),
            namespace,
          });
        }
      } else {
        for (const [i, ep] of (spec.endpoints ?? []).entries()) {
          workloads.push({
            spec: ep,
            source: `ServiceEntry ${key(se)} endpoints[${i}]`,
            health: 'HEALTHY',
            namespace,
          });
        }
      }
      for (const host of spec.hosts ?? []) {
        if (state.services.has(host)) continue;
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
        for (const port of ports) {
          for (const w of workloads) {
            if (!w.spec.address) continue;
            addEndpoint(
              state,
              this.endpoint(host, port.port, w.spec.ports?.[port.name] ?? port.targetPort ?? port.port, w),
            );
          }
          if (workloads.length === 0 && resolution === 'DNS' && !host.startsWith('*')) {
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
    }
    return state;
  }

  private endpoint(
    host: string,
    servicePort: number,
    port: number,
    w: { spec: WorkloadEntrySpec; source: string; health: HealthStatus; namespace: string },
  ): Endpoint {
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

function key(o: ConfigObject<unknown>): string {
  return `${o.metadata.namespace ?? DEFAULT_NAMESPACE}/${o.metadata.name}`;
}

/** Istio's health checking reports a WorkloadEntry's health as its status condition "Healthy". */
function healthOf(we: ConfigObject<WorkloadEntrySpec>): HealthStatus {
  const healthy = we.status?.conditions?.find((c) => c.type === 'Healthy');
  return healthy && healthy.status === 'False' ? 'UNHEALTHY' : 'HEALTHY';
}

import { addEndpoint, MemoryRegistry } from './memory-registry';
import type { RegistryState } from './memory-registry';
import { spiffeIdentity } from './model';
import type { Endpoint, HealthStatus, Service } from './model';
import { protocolOfKubernetesPort } from './protocol';

interface Meta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeService {
  metadata: Meta;
  spec: {
    type?: string;
    clusterIP?: string;
    externalName?: string;
    ports?: {
      name?: string;
      port: number;
      targetPort?: number | string;
      protocol?: string;
      appProtocol?: string;
    }[];
  };
}

export interface KubeEndpointSlice {
  metadata: Meta;
  addressType?: string;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    targetRef?: { kind?: string; name?: string; namespace?: string };
    zone?: string;
    nodeName?: string;
  }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

export interface KubePod {
  metadata: Meta;
  spec?: { serviceAccountName?: string };
}

export interface KubernetesInputs {
  services: KubeService[];
  endpointSlices: KubeEndpointSlice[];
  pods: KubePod[];
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Istio's pod label for locality, "region.zone.subzone" (dots, as label values cannot hold "/"). */
const LOCALITY_LABEL = 'istio-locality';
const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

/**
 * Kubernetes Services and their EndpointSlices as Istio reads them: hostname `<name>.<namespace>.svc.<domain>`,
 * port protocols from appProtocol or the port name's prefix, endpoints from the slices labelled with the service
 * name (matched to service ports by port name), health from the endpoint conditions, identity and labels from the
 * Pod each endpoint points at.
 */
export class KubernetesRegistry extends MemoryRegistry {
  constructor(
    private readonly domainSuffix = 'cluster.local',
    private readonly trustDomain = 'cluster.local',
  ) {
    super('Kubernetes');
  }

  private last: KubernetesInputs | undefined;

  /**
   * Takes the whole current set of Services, EndpointSlices and Pods, and recomputes only the hostnames whose
   * inputs changed: a changed Service, a changed slice of it, or a changed Pod one of its slices points at. One
   * EndpointSlice update in a large cluster then costs that service, not every service. Unchanged objects are
   * recognised by identity (pilot reuses what it decoded from an unchanged MCP resource), else by resourceVersion,
   * else by content.
   */
  update(inputs: KubernetesInputs): void {
    const previous = this.last;
    // The lists as they are now: callers may keep one inputs object and swap its lists between calls.
    this.last = { services: inputs.services, endpointSlices: inputs.endpointSlices, pods: inputs.pods };
    if (!previous) {
      this.replace(this.compute(inputs));
      return;
    }
    const hosts = this.affectedHosts(previous, inputs);
    if (hosts.size > 0) this.patch(hosts, this.compute(inputs, hosts));
  }

  private affectedHosts(before: KubernetesInputs, after: KubernetesInputs): Set<string> {
    const hosts = new Set<string>();
    for (const svc of changedObjects(before.services, after.services)) {
      hosts.add(this.hostnameOf(svc.metadata.name, namespaceOf(svc)));
    }
    for (const slice of changedObjects(before.endpointSlices, after.endpointSlices)) {
      const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc) hosts.add(this.hostnameOf(svc, namespaceOf(slice)));
    }
    const changedPods = new Set(changedObjects(before.pods, after.pods).map(keyOf));
    if (changedPods.size > 0) {
      // The services whose slices (before or after) point at a changed Pod: its labels, locality and identity.
      for (const slice of [...before.endpointSlices, ...after.endpointSlices]) {
        const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
        if (!svc) continue;
        const pointsAtChanged = (slice.endpoints ?? []).some(
          (ep) =>
            ep.targetRef?.kind === 'Pod' &&
            changedPods.has(`${ep.targetRef.namespace ?? namespaceOf(slice)}/${ep.targetRef.name}`),
        );
        if (pointsAtChanged) hosts.add(this.hostnameOf(svc, namespaceOf(slice)));
      }
    }
    return hosts;
  }

  hostnameOf(name: string, namespace: string): string {
    return `${name}.${namespace}.svc.${this.domainSuffix}`;
  }

  /** The registry state of every service, or of the services with hostnames in `only`. */
  private compute(
    { services, endpointSlices, pods }: KubernetesInputs,
    only?: ReadonlySet<string>,
  ): RegistryState {
    const state: RegistryState = { services: new Map(), endpoints: new Map() };
    const podsByKey = new Map(
      pods.map((p) => [`${p.metadata.namespace ?? 'default'}/${p.metadata.name}`, p]),
    );
    const slicesByService = new Map<string, KubeEndpointSlice[]>();
    for (const slice of endpointSlices) {
      const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
      if (!svc) continue;
      const k = `${slice.metadata.namespace ?? 'default'}/${svc}`;
      slicesByService.set(k, [...(slicesByService.get(k) ?? []), slice]);
    }
    for (const svc of services) {
      const namespace = svc.metadata.namespace ?? 'default';
      const hostname = this.hostnameOf(svc.metadata.name, namespace);
      if (only && !only.has(hostname)) continue;
      const exportTo = (svc.metadata.annotations?.[EXPORT_TO_ANNOTATION] ?? '*')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((ns) => (ns === '.' ? namespace : ns));
      const ports = (svc.spec.ports ?? []).map((p) => ({
        name: p.name ?? '',
        port: p.port,
        protocol: protocolOfKubernetesPort(p.name, p.appProtocol),
      }));
      const external = svc.spec.type === 'ExternalName';
      const headless = svc.spec.clusterIP === 'None';
      const service: Service = {
        hostname,
        namespace,
        ports,
        exportTo,
        resolution: external ? 'DNS' : headless ? 'NONE' : 'STATIC',
        meshExternal: external,
        addresses: svc.spec.clusterIP && !headless ? [svc.spec.clusterIP] : [],
        source: `Kubernetes Service ${namespace}/${svc.metadata.name}`,
      };
      state.services.set(hostname, service);
      if (external && svc.spec.externalName) {
        for (const p of ports) {
          addEndpoint(state, {
            hostname,
            servicePort: p.port,
            address: svc.spec.externalName,
            port: p.port,
            labels: {},
            locality: { region: '', zone: '', subZone: '' },
            health: 'HEALTHY',
            weight: 1,
            source: service.source,
          });
        }
        continue;
      }
      for (const slice of slicesByService.get(`${namespace}/${svc.metadata.name}`) ?? []) {
        for (const p of svc.spec.ports ?? []) {
          const slicePort = (slice.ports ?? []).find((sp) => (sp.name ?? '') === (p.name ?? ''));
          if (!slicePort?.port) continue;
          for (const ep of slice.endpoints ?? []) {
            const pod =
              ep.targetRef?.kind === 'Pod'
                ? podsByKey.get(`${ep.targetRef.namespace ?? namespace}/${ep.targetRef.name}`)
                : undefined;
            for (const address of ep.addresses) {
              addEndpoint(state, this.endpoint(hostname, p.port, address, slicePort.port, ep, pod, slice));
            }
          }
        }
      }
    }
    return state;
  }

  private endpoint(
    hostname: string,
    servicePort: number,
    address: string,
    port: number,
    ep: NonNullable<KubeEndpointSlice['endpoints']>[number],
    pod: KubePod | undefined,
    slice: KubeEndpointSlice,
  ): Endpoint {
    const [region = '', zone = ep.zone ?? '', subZone = ''] = (
      pod?.metadata.labels?.[LOCALITY_LABEL] ?? ''
    ).split('.');
    const podNamespace = pod?.metadata.namespace ?? slice.metadata.namespace ?? 'default';
    return {
      hostname,
      servicePort,
      address,
      port,
      labels: pod?.metadata.labels ?? {},
      locality: { region, zone: zone || ep.zone || '', subZone },
      health: healthOf(ep.conditions),
      identity: spiffeIdentity(this.trustDomain, podNamespace, pod?.spec?.serviceAccountName ?? 'default'),
      weight: 1,
      source: pod
        ? `Pod ${podNamespace}/${pod.metadata.name}`
        : `EndpointSlice ${podNamespace}/${slice.metadata.name}`,
    };
  }
}

/** EndpointSlice conditions: ready → HEALTHY; terminating → DRAINING; otherwise UNHEALTHY. */
function healthOf(
  conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } | undefined,
): HealthStatus {
  if (conditions?.terminating) return 'DRAINING';
  // A missing `ready` means ready (the EndpointSlice API's rule for unknown state).
  return conditions?.ready === false ? 'UNHEALTHY' : 'HEALTHY';
}

function namespaceOf(o: { metadata: Meta }): string {
  return o.metadata.namespace ?? 'default';
}

function keyOf(o: { metadata: Meta }): string {
  return `${namespaceOf(o)}/${o.metadata.name}`;
}

/**
 * The objects added, removed or changed between two lists (for a removed one, its last version). Objects with a
 * resourceVersion on both sides compare by it, as Kubernetes bumps it on every change; others by content.
 */
function changedObjects<T extends { metadata: Meta }>(before: readonly T[], after: readonly T[]): T[] {
  const old = new Map(before.map((o) => [keyOf(o), o]));
  const out: T[] = [];
  for (const o of after) {
    const key = keyOf(o);
    const was = old.get(key);
    old.delete(key);
    if (was === o) continue;
    if (was === undefined) out.push(o);
    else if (was.metadata.resourceVersion !== undefined && o.metadata.resourceVersion !== undefined) {
      if (was.metadata.resourceVersion !== o.metadata.resourceVersion) out.push(was, o);
    } else if (JSON.stringify(was) !== JSON.stringify(o)) out.push(was, o);
  }
  out.push(...old.values());
  return out;
}

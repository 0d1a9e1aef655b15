import { addEndpoint, MemoryRegistry } from './memory-registry';
import type { RegistryState } from './memory-registry';
import { spiffeIdentity } from './model';
import type { Endpoint, HealthStatus, Service } from './model';
import { protocolOfKubernetesPort } from './protocol';

interface Meta {
  name: string;
  namespace?: string;
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

  update(inputs: KubernetesInputs): void {
    this.replace(this.compute(inputs));
  }

  hostnameOf(name: string, namespace: string): string {
    return `${name}.${namespace}.svc.${this.domainSuffix}`;
  }

  private compute({ services, endpointSlices, pods }: KubernetesInputs): RegistryState {
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

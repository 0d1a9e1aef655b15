/** A Kubernetes resource type as its REST path names it. */
export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** The collection path across all namespaces: /api/v1/services, /apis/networking.istio.io/v1/virtualservices. */
export function collectionPath(type: ResourceType, namespace?: string): string {
  const base = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  return namespace && type.namespaced
    ? `${base}/namespaces/${namespace}/${type.plural}`
    : `${base}/${type.plural}`;
}

export function objectPath(type: ResourceType, namespace: string | undefined, name: string): string {
  return `${collectionPath(type, type.namespaced ? namespace : undefined)}/${name}`;
}

const networking = (kind: string, plural: string): ResourceType => ({
  group: 'networking.istio.io',
  version: 'v1',
  plural,
  kind,
  namespaced: true,
});
const security = (kind: string, plural: string): ResourceType => ({
  group: 'security.istio.io',
  version: 'v1',
  plural,
  kind,
  namespaced: true,
});

/** The Istio resources galley reads from a cluster, at the storage version Istio serves them. */
export const ISTIO_TYPES: readonly ResourceType[] = [
  networking('VirtualService', 'virtualservices'),
  networking('DestinationRule', 'destinationrules'),
  networking('Gateway', 'gateways'),
  networking('ServiceEntry', 'serviceentries'),
  networking('Sidecar', 'sidecars'),
  networking('WorkloadEntry', 'workloadentries'),
  networking('WorkloadGroup', 'workloadgroups'),
  { ...networking('EnvoyFilter', 'envoyfilters'), version: 'v1alpha3' },
  security('AuthorizationPolicy', 'authorizationpolicies'),
  security('PeerAuthentication', 'peerauthentications'),
  security('RequestAuthentication', 'requestauthentications'),
  { group: 'telemetry.istio.io', version: 'v1', plural: 'telemetries', kind: 'Telemetry', namespaced: true },
];

/** The core objects pilot's registry needs, which galley relays. */
export const SERVICE_DISCOVERY_TYPES: readonly ResourceType[] = [
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    namespaced: true,
  },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
];

const core = (kind: string, plural: string, namespaced = true): ResourceType => ({
  group: '',
  version: 'v1',
  plural,
  kind,
  namespaced,
});

/** Core objects citadel keeps its root in (Secret) and distributes the trust bundle and CRL with (ConfigMap). */
export const CONFIG_MAPS = core('ConfigMap', 'configmaps');
export const SECRETS = core('Secret', 'secrets');
export const NAMESPACES = core('Namespace', 'namespaces', false);

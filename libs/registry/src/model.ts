/**
 * The service model pilot's generators see, following Istio's: a Service is one hostname with its ports; an
 * Endpoint is one workload address serving one of those ports.
 */

/** Istio's port protocols (networking.istio.io Port.protocol and protocol selection). */
export type Protocol =
  | 'HTTP'
  | 'HTTP2'
  | 'HTTPS'
  | 'GRPC'
  | 'GRPC-WEB'
  | 'TCP'
  | 'TLS'
  | 'MONGO'
  | 'REDIS'
  | 'MYSQL'
  | 'UDP'
  | 'UNKNOWN';

export interface ServicePort {
  name: string;
  port: number;
  protocol: Protocol;
}

export type Resolution = 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'NONE';

export interface Service {
  /** Fully qualified: "reviews.bookinfo.svc.cluster.local", or a ServiceEntry's host as written. */
  hostname: string;
  namespace: string;
  ports: ServicePort[];
  /** Namespaces that may see the service: "*" (all, the default), or names ("." already resolved). */
  exportTo: string[];
  resolution: Resolution;
  /** MESH_INTERNAL services are in the mesh (mTLS); MESH_EXTERNAL are not. */
  meshExternal: boolean;
  /** Virtual IPs (a Kubernetes ClusterIP, a ServiceEntry's addresses). */
  addresses: string[];
  /** Where it came from, for debugging: "ServiceEntry bookinfo/reviews", "Kubernetes Service bookinfo/reviews". */
  source: string;
}

export interface Locality {
  region: string;
  zone: string;
  subZone: string;
}

export type HealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'DRAINING';

export interface Endpoint {
  /** The service hostname and service port (number) this endpoint serves. */
  hostname: string;
  servicePort: number;
  /** The workload's address (an IP literal, or a DNS name for DNS resolution) and port. */
  address: string;
  port: number;
  labels: Record<string, string>;
  locality: Locality;
  health: HealthStatus;
  /** SPIFFE identity of the workload, when known: spiffe://<trust-domain>/ns/<ns>/sa/<sa>. */
  identity?: string;
  /** Relative load-balancing weight (Istio WorkloadEntry.weight; default 1). */
  weight: number;
  /** Where it came from, for debugging: "WorkloadEntry bookinfo/reviews-v1". */
  source: string;
}

/** What changed in a registry: a full change alters services; an endpoint change alters only endpoints. */
export interface RegistryChange {
  /** Hostnames whose Service (not just endpoints) changed, appeared or went. */
  services: Set<string>;
  /** Hostnames whose endpoints changed. */
  endpoints: Set<string>;
}

export interface ServiceRegistry {
  readonly name: string;
  services(): Service[];
  service(hostname: string): Service | undefined;
  /** The endpoints of one service port (by number). */
  endpoints(hostname: string, servicePort: number): Endpoint[];
  /** Subscribes to changes; returns an unsubscribe function. */
  onChange(listener: (change: RegistryChange) => void): () => void;
}

/** Parses Istio's locality string "region/zone/subzone" (any part may be missing). */
export function parseLocality(value: string | undefined): Locality {
  const [region = '', zone = '', subZone = ''] = (value ?? '').split('/');
  return { region, zone, subZone };
}

/** Whether a service exported to `exportTo` is visible from namespace `from`. */
export function isVisibleFrom(service: Service, from: string): boolean {
  return service.exportTo.some((ns) => ns === '*' || ns === from);
}

/** Whether every selector label is on the workload (Istio's workloadSelector / Kubernetes selector semantics). */
export function selectorMatches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

export function spiffeIdentity(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

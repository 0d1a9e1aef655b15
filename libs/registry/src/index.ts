export { AggregateRegistry } from './aggregate-registry';
export { KubernetesRegistry } from './kubernetes-registry';
export type { KubeEndpointSlice, KubePod, KubeService, KubernetesInputs } from './kubernetes-registry';
export { MemoryRegistry, addEndpoint } from './memory-registry';
export type { RegistryState } from './memory-registry';
export { isVisibleFrom, parseLocality, selectorMatches, spiffeIdentity } from './model';
export type {
  Endpoint,
  HealthStatus,
  Locality,
  Protocol,
  RegistryChange,
  Resolution,
  Service,
  ServicePort,
  ServiceRegistry,
} from './model';
export { parseProtocol, protocolOfKubernetesPort } from './protocol';
export { ServiceEntryRegistry } from './service-entry-registry';
export type {
  ConfigObject,
  ServiceEntryInputs,
  ServiceEntrySpec,
  WorkloadEntrySpec,
} from './service-entry-registry';

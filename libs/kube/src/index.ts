export { kubeConfigFor, loadKubeConfig } from './kube-config';
export { ResourceWatcher } from './resource-watcher';
export type { KubeList, WatchEventKind } from './resource-watcher';
export { createObject, ensureObject, getObject, replaceObject } from './objects';
export type { NamedObject } from './objects';
export {
  CONFIG_MAPS,
  ISTIO_TYPES,
  NAMESPACES,
  SECRETS,
  SERVICE_DISCOVERY_TYPES,
  apiVersionOf,
  collectionPath,
  objectPath,
} from './resource-types';
export type { ResourceType } from './resource-types';
export { KubeApiError, kubeRequest } from './rest';
export { patchStatus } from './status';

import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { collectionPath, objectPath } from './resource-types';
import type { ResourceType } from './resource-types';
import { KubeApiError, kubeRequest } from './rest';

/** An object with the name (and namespace) the API paths need. */
export interface NamedObject extends KubernetesObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  /** The rest of the object: data, spec, type, … */
  [field: string]: unknown;
}

/** GET one object; undefined when the API server answers 404. */
export async function getObject<T extends KubernetesObject>(
  kc: KubeConfig,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
): Promise<T | undefined> {
  try {
    return await kubeRequest<T>(kc, 'GET', objectPath(type, namespace, name));
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
    throw err;
  }
}

/** POST a new object; a KubeApiError with status 409 when it already exists. */
export function createObject<T extends KubernetesObject>(
  kc: KubeConfig,
  type: ResourceType,
  object: NamedObject,
): Promise<T> {
  return kubeRequest<T>(kc, 'POST', collectionPath(type, object.metadata.namespace), object);
}

/**
 * PUT an object in place of the stored one. With metadata.resourceVersion set, the API server refuses (409) when
 * the object changed since that version was read, so a write based on stale data never lands.
 */
export function replaceObject<T extends KubernetesObject>(
  kc: KubeConfig,
  type: ResourceType,
  object: NamedObject,
): Promise<T> {
  return kubeRequest<T>(kc, 'PUT', objectPath(type, object.metadata.namespace, object.metadata.name), object);
}

/**
 * Makes the stored object equal `desired`: creates it when absent, replaces it when `differs(stored)` says it is
 * out of date, and leaves it alone otherwise. A create that loses a race with another writer (409) is retried
 * once as a replace. Resolves with what the API server stored, and whether this call wrote it.
 */
export async function ensureObject<T extends KubernetesObject>(
  kc: KubeConfig,
  type: ResourceType,
  desired: NamedObject,
  differs: (stored: T) => boolean,
): Promise<{ object: T; written: boolean }> {
  const { namespace, name } = desired.metadata;
  for (let attempt = 0; ; attempt++) {
    const stored = await getObject<T>(kc, type, namespace, name);
    try {
      if (!stored) return { object: await createObject<T>(kc, type, desired), written: true };
      if (!differs(stored)) return { object: stored, written: false };
      const resourceVersion = stored.metadata?.resourceVersion;
      const object = await replaceObject<T>(kc, type, {
        ...desired,
        metadata: { ...stored.metadata, ...desired.metadata, resourceVersion },
      });
      return { object, written: true };
    } catch (err) {
      if (attempt === 0 && err instanceof KubeApiError && err.statusCode === 409) continue;
      throw err;
    }
  }
}

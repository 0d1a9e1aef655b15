import { createHash } from 'node:crypto';

/** One configuration resource as a source holds it, with the verdict on it. */
export interface SourceResource<T> {
  /** Which collection it belongs to, e.g. "networking.istio.io/v1alpha3/VirtualService". */
  collection: string;
  /** "namespace/name": unique within a collection. */
  name: string;
  value: T;
  /** Empty when the resource is valid; otherwise why it is rejected, each naming a field path. */
  errors: string[];
}

/** A resource that is serving, with the content version pushes use. */
export interface ServedResource<T> {
  collection: string;
  name: string;
  value: T;
  /** Where it came from: a file path, or "kubernetes". */
  origin: string;
  /** A hash of the serialized value: changes exactly when the content does. */
  version: string;
}

export interface Rejection {
  /** The file (relative to the watched folder) or the Kubernetes object ("Kind namespace/name"). */
  origin: string;
  collection?: string;
  name?: string;
  message: string;
  /** Whether an earlier good version of this resource keeps serving in its place. */
  keptLastGood: boolean;
}

export interface Snapshot<T> {
  /** Increases with every snapshot that changed something. */
  generation: number;
  /** collection → name → resource. */
  collections: Map<string, Map<string, ServedResource<T>>>;
  /** What the last load refused. */
  rejections: Rejection[];
}

/** A content hash of a resource's value: changes exactly when the content does. */
export function versionOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 16);
}

export function changedCollections<T>(
  before: Map<string, Map<string, ServedResource<T>>>,
  after: Map<string, Map<string, ServedResource<T>>>,
): Set<string> {
  const changed = new Set<string>();
  for (const collection of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(collection) ?? new Map<string, ServedResource<T>>();
    const b = after.get(collection) ?? new Map<string, ServedResource<T>>();
    if (a.size !== b.size) {
      changed.add(collection);
      continue;
    }
    for (const [name, r] of b) {
      if (a.get(name)?.version !== r.version) {
        changed.add(collection);
        break;
      }
    }
  }
  return changed;
}

/**
 * The snapshot after a load that produced `collections` and `rejections`, with the collections that changed; or
 * undefined when nothing did. The generation moves only when served content changes.
 */
export function advanceSnapshot<T>(
  current: Snapshot<T>,
  collections: Snapshot<T>['collections'],
  rejections: Rejection[],
): { snapshot: Snapshot<T>; changed: Set<string> } | undefined {
  const changed = changedCollections(current.collections, collections);
  const rejectionsChanged = JSON.stringify(rejections) !== JSON.stringify(current.rejections);
  if (changed.size === 0 && !rejectionsChanged) return undefined;
  const generation = current.generation + (changed.size > 0 ? 1 : 0);
  return { snapshot: { generation, collections, rejections }, changed };
}

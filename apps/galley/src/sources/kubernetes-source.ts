import { EventEmitter } from 'node:events';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import {
  ISTIO_TYPES,
  ResourceWatcher,
  SERVICE_DISCOVERY_TYPES,
  loadKubeConfig,
  patchStatus,
} from '@flotilla/kube';
import type { ResourceType } from '@flotilla/kube';
import { advanceSnapshot, versionOf } from './snapshot';
import type { Rejection, ServedResource, Snapshot, SourceResource } from './snapshot';

export interface KubernetesSourceOptions<T> {
  kc: KubeConfig;
  types: readonly ResourceType[];
  /** Makes a source resource (collection, name, value and the validation verdict) of one object. */
  toResource: (object: KubernetesObject, type: ResourceType) => SourceResource<T>;
  /** Types whose validation results are written to the object's status (Istio's own resources). */
  reportStatusOn?: (type: ResourceType) => boolean;
  debounceMs?: number;
  onError?: (err: Error) => void;
}

/** The status Istio's analysis writes for a rejected resource (istio.meta.v1alpha1.IstioStatus), plus the reason. */
function validationStatus(errors: string[]): Record<string, unknown> {
  return {
    validationMessages: errors.map((description) => ({
      type: { code: 'IST0106', name: 'SchemaValidationError' },
      level: 'ERROR',
      description,
    })),
  };
}

/**
 * Mesh configuration and service discovery objects from a Kubernetes cluster, through one informer per resource
 * type (list, watch, resume, relist on 410 Gone). Changes are coalesced for `debounceMs` into one atomic snapshot
 * with the same rules as the directory source: an invalid object keeps its last good version serving and has the
 * reason written to its status; a deleted object goes.
 *
 * Emits `snapshot` (Snapshot, changedCollections) like DirectorySource.
 */
export class KubernetesSource<T> extends EventEmitter {
  private readonly watchers: ResourceWatcher[];
  private readonly debounceMs: number;
  private timer: NodeJS.Timeout | undefined;
  private current: Snapshot<T> = { generation: 0, collections: new Map(), rejections: [] };
  /** uid → the errors last written to that object's status, so each verdict is written once. */
  private readonly statusWritten = new Map<string, string>();

  constructor(private readonly options: KubernetesSourceOptions<T>) {
    super();
    this.debounceMs = options.debounceMs ?? 100;
    this.watchers = options.types.map((type) => {
      const watcher = new ResourceWatcher(options.kc, type);
      watcher.on('change', () => this.schedule());
      watcher.on('error', (err: Error) => options.onError?.(err));
      return watcher;
    });
  }

  get snapshot(): Snapshot<T> {
    return this.current;
  }

  async start(): Promise<Snapshot<T>> {
    await Promise.all(this.watchers.map((w) => w.start()));
    this.rebuild();
    return this.current;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(this.watchers.map((w) => w.stop()));
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.rebuild();
    }, this.debounceMs);
  }

  private rebuild(): void {
    const previous = this.current.collections;
    const next = new Map<string, Map<string, ServedResource<T>>>();
    const rejections: Rejection[] = [];
    for (const watcher of this.watchers) {
      for (const object of watcher.list()) {
        const resource = this.options.toResource(object, watcher.type);
        const origin = `${watcher.type.kind} ${resource.name}`;
        let served: ServedResource<T> | undefined;
        if (resource.errors.length === 0) {
          served = { ...resource, origin: 'kubernetes', version: versionOf(resource.value) };
        } else {
          served = previous.get(resource.collection)?.get(resource.name);
          for (const message of resource.errors) {
            rejections.push({
              origin,
              collection: resource.collection,
              name: resource.name,
              message,
              keptLastGood: !!served,
            });
          }
        }
        if (served) {
          let byName = next.get(served.collection);
          if (!byName) next.set(served.collection, (byName = new Map()));
          byName.set(served.name, served);
        }
        if (this.options.reportStatusOn?.(watcher.type))
          this.reportStatus(watcher.type, object, resource.errors);
      }
    }
    const advanced = advanceSnapshot(this.current, next, rejections);
    if (!advanced) return;
    this.current = advanced.snapshot;
    this.emit('snapshot', this.current, advanced.changed);
  }

  private reportStatus(type: ResourceType, object: KubernetesObject, errors: string[]): void {
    const uid = object.metadata?.uid ?? `${object.metadata?.namespace}/${object.metadata?.name}`;
    const verdict = JSON.stringify(errors);
    const hadErrors = (this.statusWritten.get(uid) ?? '[]') !== '[]';
    if (this.statusWritten.get(uid) === verdict || (errors.length === 0 && !hadErrors)) return;
    this.statusWritten.set(uid, verdict);
    // A valid object clears the messages an earlier version got (merge-patch null deletes the field).
    const status = errors.length > 0 ? validationStatus(errors) : { validationMessages: null };
    patchStatus(this.options.kc, type, object.metadata?.namespace, object.metadata?.name ?? '', status).catch(
      (err: Error) => this.options.onError?.(err),
    );
  }
}

/**
 * galley's cluster source: every Istio kind and the service discovery objects pilot needs, from the kubeconfig
 * given (default: in-cluster, else ~/.kube/config).
 */
export function clusterSource<T>(
  kubeconfig: string | undefined,
  options: Omit<KubernetesSourceOptions<T>, 'kc' | 'types'>,
): KubernetesSource<T> {
  return new KubernetesSource({
    ...options,
    kc: loadKubeConfig(kubeconfig),
    types: [...ISTIO_TYPES, ...SERVICE_DISCOVERY_TYPES],
  });
}

import { EventEmitter } from 'node:events';
import { makeInformer } from '@kubernetes/client-node';
import type { Informer, KubeConfig, KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import { collectionPath } from './resource-types';
import type { ResourceType } from './resource-types';
import { kubeRequest } from './rest';

export interface KubeList {
  metadata?: { resourceVersion?: string };
  items: KubernetesObject[];
}

export type WatchEventKind = 'add' | 'update' | 'delete';

/**
 * Keeps an up-to-date copy of every object of one resource type, through client-node's informer (list, then
 * watch from the list's resourceVersion; on 410 Gone it lists again; on a dropped watch it resumes). Emits
 * `change` (kind, object) for each add, update and delete, and `error` (Error) for failures it retries after
 * `retryMs`.
 */
export class ResourceWatcher extends EventEmitter {
  private readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    kc: KubeConfig,
    readonly type: ResourceType,
    private readonly retryMs = 1000,
  ) {
    super();
    const path = collectionPath(type);
    this.informer = makeInformer<KubernetesObject>(kc, path, async () => {
      const list = await kubeRequest<KubeList>(kc, 'GET', path);
      // Items of a list carry no apiVersion/kind; consumers want whole objects.
      for (const item of list.items) {
        item.apiVersion ??= type.group ? `${type.group}/${type.version}` : type.version;
        item.kind ??= type.kind;
      }
      return list as never;
    });
    this.informer.on('add', (o) => this.emit('change', 'add', o));
    this.informer.on('update', (o) => this.emit('change', 'update', o));
    this.informer.on('delete', (o) => this.emit('change', 'delete', o));
    this.informer.on('error', (err: unknown) => this.retryAfter(err));
  }

  /** Resolves after the first list has been taken in. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.informer.stop();
  }

  list(): readonly KubernetesObject[] {
    return this.informer.list();
  }

  /** client-node's informer stops after reporting an error: report it, and start again after a pause. */
  private retryAfter(err: unknown): void {
    if (this.stopped) return;
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.informer.start().catch((e: unknown) => this.retryAfter(e));
    }, this.retryMs);
  }
}

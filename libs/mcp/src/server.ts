import type { protobufAny } from '@flotilla/proto';
import { AdsServer, ResourceSnapshot } from '@flotilla/xds';
import type { AdsServerOptions, ConnectionStatus } from '@flotilla/xds';
import { encodeMcpResource } from './resource';
import type { McpResource } from './resource';

export type McpServerOptions = Omit<AdsServerOptions, 'generators' | 'fallbackGenerator'>;

/**
 * Galley's side of MCP-over-xDS. Each collection ("networking.istio.io/v1alpha3/VirtualService") is a type URL
 * on the ADS stream, and each of its resources an Any holding istio.mcp.v1alpha1.Resource named
 * "<namespace>/<name>" — the form Istio's pilot reads from its config sources. Every sink sees the same
 * collections (a subscription may still name resources), over SotW or delta; per-collection versions are content
 * hashes, and `setSnapshot` pushes only the collections that changed.
 *
 * Resources are treated as immutable: each McpResource object is encoded once and its encoding reused, so pass
 * new objects for changed resources.
 */
export class McpServer {
  readonly ads: AdsServer;
  private readonly snapshot = new ResourceSnapshot();
  private readonly current = new Map<string, readonly McpResource[]>();
  private readonly encoded = new WeakMap<McpResource, protobufAny.Any>();

  constructor(options: McpServerOptions) {
    this.ads = new AdsServer({ ...options, fallbackGenerator: this.snapshot.generator() });
  }

  /** The ADS service definition and implementation, for `GrpcServer.addService`. */
  get definition(): AdsServer['definition'] {
    return this.ads.definition;
  }

  get implementation(): AdsServer['implementation'] {
    return this.ads.implementation;
  }

  /**
   * Replaces every collection: a collection missing from `collections` is served empty from now on. Pushes (after
   * the debounce) only the collections whose content changed, and returns them.
   */
  setSnapshot(collections: ReadonlyMap<string, readonly McpResource[]>): string[] {
    const changed: string[] = [];
    for (const [collection, resources] of collections) {
      if (this.store(collection, resources)) changed.push(collection);
    }
    for (const collection of [...this.current.keys()]) {
      if (!collections.has(collection) && this.store(collection, [])) changed.push(collection);
    }
    if (changed.length > 0) this.ads.push(changed, { reason: 'config' });
    return changed;
  }

  /** Replaces one collection; pushes it if it changed. */
  setCollection(collection: string, resources: readonly McpResource[]): boolean {
    const changed = this.store(collection, resources);
    if (changed) this.ads.push([collection], { reason: 'config' });
    return changed;
  }

  resources(collection: string): readonly McpResource[] {
    return this.current.get(collection) ?? [];
  }

  /** The collection's version: a hash of its resources ("" for a collection never set). */
  version(collection: string): string {
    return this.snapshot.version(collection);
  }

  collections(): string[] {
    return [...this.current.keys()];
  }

  /** The syncz view of the connected sinks. */
  status(): ConnectionStatus[] {
    return this.ads.status();
  }

  /** Waits until every pending push has been sent. */
  settle(): Promise<void> {
    return this.ads.settle();
  }

  /** Ends every sink's stream (they reconnect); call before stopping the gRPC server. */
  close(): void {
    this.ads.close();
  }

  private store(collection: string, resources: readonly McpResource[]): boolean {
    this.current.set(collection, [...resources]);
    return this.snapshot.set(
      collection,
      // A resource's own version (a content hash from galley's folder source, a resourceVersion from Kubernetes)
      // changes whenever its content does, so it serves as the xDS resource version without hashing the bytes.
      resources.map((r) => ({ name: r.name, resource: this.encode(r), version: r.version || undefined })),
    );
  }

  private encode(resource: McpResource): protobufAny.Any {
    let any = this.encoded.get(resource);
    if (!any) {
      any = encodeMcpResource(resource);
      this.encoded.set(resource, any);
    }
    return any;
  }
}

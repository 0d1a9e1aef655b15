import { mcpResourceOf } from '@flotilla/mcp';
import type { McpResource, McpServer } from '@flotilla/mcp';
import type { ConfigValue } from './istio-config';
import type { Snapshot } from './sources/snapshot';

/**
 * Serves a source's snapshots over MCP. Each resource becomes an istio.mcp.v1alpha1.Resource named
 * "<namespace>/<name>" whose version is its content hash and whose body is its spec; unchanged resources keep
 * their encoded form (McpServer caches by object), so a push re-encodes only what changed.
 */
export class McpPublisher {
  private readonly built = new Map<string, { version: string; resource: McpResource }>();

  constructor(private readonly server: McpServer) {}

  /** Publishes a snapshot; returns the collections that changed. */
  publish(snapshot: Snapshot<ConfigValue>): string[] {
    const collections = new Map<string, McpResource[]>();
    const live = new Set<string>();
    for (const [collection, byName] of snapshot.collections) {
      const resources: McpResource[] = [];
      for (const [name, served] of byName) {
        const key = `${collection} ${name}`;
        live.add(key);
        let entry = this.built.get(key);
        if (!entry || entry.version !== served.version) {
          const v = served.value;
          entry = {
            version: served.version,
            resource: mcpResourceOf({
              namespace: v.namespace,
              name: v.name,
              version: served.version,
              labels: v.labels,
              annotations: v.annotations,
              spec: v.spec,
            }),
          };
          this.built.set(key, entry);
        }
        resources.push(entry.resource);
      }
      collections.set(collection, resources);
    }
    for (const key of [...this.built.keys()]) if (!live.has(key)) this.built.delete(key);
    return this.server.setSnapshot(collections);
  }
}

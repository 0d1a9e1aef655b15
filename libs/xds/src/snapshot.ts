import type { Generator, ResourceEntry, VersionedResource } from './types';
import { contentVersion, setVersion } from './versions';

/**
 * The same resources for every connection, per type URL: what galley serves and what a static test server
 * serves. `set` tells whether a type really changed, so the caller pushes only changed types.
 */
export class ResourceSnapshot {
  private readonly types = new Map<string, { resources: VersionedResource[]; version: string }>();

  /** Replaces the resources of a type; returns whether its version changed. Later duplicates of a name win. */
  set(typeUrl: string, entries: Iterable<ResourceEntry>): boolean {
    const byName = new Map<string, VersionedResource>();
    for (const e of entries) {
      byName.set(e.name, {
        name: e.name,
        resource: e.resource,
        version: e.version ?? contentVersion(e.resource),
      });
    }
    const resources = [...byName.values()];
    const version = setVersion(resources);
    const changed = this.types.get(typeUrl)?.version !== version;
    this.types.set(typeUrl, { resources, version });
    return changed;
  }

  /** Removes a type entirely (its resources are then served as an empty set); returns whether it existed. */
  delete(typeUrl: string): boolean {
    return this.types.delete(typeUrl);
  }

  resources(typeUrl: string): readonly VersionedResource[] {
    return this.types.get(typeUrl)?.resources ?? [];
  }

  /** The version of a type's set ("" for a type never set). */
  version(typeUrl: string): string {
    return this.types.get(typeUrl)?.version ?? '';
  }

  typeUrls(): string[] {
    return [...this.types.keys()];
  }

  /** A generator serving this snapshot to every connection (an unknown type is an empty set). */
  generator(): Generator {
    return (context) => [...this.resources(context.watched.typeUrl)];
  }
}

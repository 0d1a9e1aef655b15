import { McpSink, unpackJsonBody } from '@flotilla/mcp';
import type { ConfigResource, ConfigSnapshot, MixerConfigSource } from '@flotilla/mixer-core';
import type { Logger } from '@flotilla/service-kit';

/** The config.istio.io/v1alpha2 kinds mixer reads, as galley names their MCP collections. */
export const MIXER_COLLECTIONS: Readonly<Record<string, string>> = {
  'config.istio.io/v1alpha2/attributemanifest': 'attributemanifest',
  'config.istio.io/v1alpha2/handler': 'handler',
  'config.istio.io/v1alpha2/instance': 'instance',
  'config.istio.io/v1alpha2/rule': 'rule',
};

/**
 * Mixer's config from galley over MCP: an MCP sink on the four collections. `load` turns the sink's last good
 * snapshot into config resources; `watch` fires (coalesced) on every accepted change. While galley is away the
 * sink keeps its snapshot, so the config in force stays.
 */
export class McpConfigSource implements MixerConfigSource {
  readonly sink: McpSink;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    address: string,
    nodeId: string,
    logger: Logger,
    private readonly coalesceMs = 20,
  ) {
    this.sink = new McpSink({
      address,
      node: { id: nodeId },
      collections: Object.keys(MIXER_COLLECTIONS),
      logger,
    });
  }

  start(): void {
    this.sink.start();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.sink.stop();
  }

  async load(): Promise<ConfigSnapshot> {
    const resources: ConfigResource[] = [];
    const errors: string[] = [];
    for (const [collection, items] of this.sink.snapshot()) {
      const kind = MIXER_COLLECTIONS[collection];
      if (!kind) continue;
      for (const item of items) {
        const slash = item.name.indexOf('/');
        try {
          resources.push({
            kind,
            namespace: item.name.slice(0, slash),
            name: item.name.slice(slash + 1),
            spec: unpackJsonBody(item.body),
            origin: `galley ${collection} ${item.name}`,
          });
        } catch (err) {
          errors.push(`galley ${collection} ${item.name}: ${(err as Error).message}`);
        }
      }
    }
    return { resources, errors };
  }

  watch(onChange: () => void): () => void {
    const listener = () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(onChange, this.coalesceMs);
    };
    this.sink.on('change', listener);
    return () => this.sink.off('change', listener);
  }
}

/**
 * Istio config as pilot holds it: the networking and security objects galley serves, by kind and "namespace/name",
 * with a generation bumped on every change so that encodings built from one generation can be shared and reused.
 */

/** One Istio config object: metadata and the spec as galley validated it. */
export interface ConfigEntry<Spec = Record<string, unknown>> {
  kind: ConfigKind;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Galley's revision of the object. */
  version: string;
  spec: Spec;
}

/** The kinds pilot keeps (registry inputs — ServiceEntry, WorkloadEntry, Kubernetes objects — go elsewhere). */
export const CONFIG_KINDS = [
  'VirtualService',
  'DestinationRule',
  'Sidecar',
  'Gateway',
  'AuthorizationPolicy',
  'PeerAuthentication',
] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

export class ConfigStore {
  private readonly byKind = new Map<ConfigKind, Map<string, ConfigEntry>>();
  private generation_ = 0;

  constructor() {
    for (const kind of CONFIG_KINDS) this.byKind.set(kind, new Map());
  }

  /** Bumped by every `replace` that changed anything. */
  get generation(): number {
    return this.generation_;
  }

  /** Replaces every object of a kind; returns whether anything changed. */
  replace(kind: ConfigKind, entries: readonly ConfigEntry[]): boolean {
    const next = new Map<string, ConfigEntry>();
    for (const e of entries) next.set(`${e.namespace}/${e.name}`, e);
    const before = this.byKind.get(kind)!;
    if (sameEntries(before, next)) return false;
    this.byKind.set(kind, next);
    this.generation_++;
    return true;
  }

  list<Spec = Record<string, unknown>>(kind: ConfigKind): ConfigEntry<Spec>[] {
    return [...this.byKind.get(kind)!.values()].sort(byKey) as ConfigEntry<Spec>[];
  }

  get<Spec = Record<string, unknown>>(kind: ConfigKind, key: string): ConfigEntry<Spec> | undefined {
    return this.byKind.get(kind)!.get(key) as ConfigEntry<Spec> | undefined;
  }

  /** The /debug/configz view: every object by kind, with the store's generation. */
  toJSON(): { generation: number; kinds: Record<string, ConfigEntry[]> } {
    const kinds: Record<string, ConfigEntry[]> = {};
    for (const kind of CONFIG_KINDS) kinds[kind] = this.list(kind);
    return { generation: this.generation_, kinds };
  }
}

function byKey(a: ConfigEntry, b: ConfigEntry): number {
  return a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace);
}

function sameEntries(a: Map<string, ConfigEntry>, b: Map<string, ConfigEntry>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, entry] of a) {
    const other = b.get(key);
    if (!other || JSON.stringify(other) !== JSON.stringify(entry)) return false;
  }
  return true;
}

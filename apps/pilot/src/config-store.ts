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
  'RequestAuthentication',
] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

/** One object's change: `before` absent for a new object, `after` absent for a removed one. */
export interface ConfigChange<Spec = Record<string, unknown>> {
  before?: ConfigEntry<Spec>;
  after?: ConfigEntry<Spec>;
}

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

  /**
   * Replaces every object of a kind; returns the objects that changed, appeared or went (empty when nothing did),
   * each with its version before and after, so that callers can tell which hosts the change concerns.
   */
  replace(kind: ConfigKind, entries: readonly ConfigEntry[]): ConfigChange[] {
    const next = new Map<string, ConfigEntry>();
    for (const e of entries) next.set(`${e.namespace}/${e.name}`, e);
    const before = this.byKind.get(kind)!;
    const changes: ConfigChange[] = [];
    for (const key of new Set([...before.keys(), ...next.keys()])) {
      const old = before.get(key);
      const now = next.get(key);
      if (!sameEntry(old, now)) changes.push({ before: old, after: now });
    }
    if (changes.length === 0) return changes;
    this.byKind.set(kind, next);
    this.generation_++;
    return changes;
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

function sameEntry(a: ConfigEntry | undefined, b: ConfigEntry | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b));
}

import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { CONFIG_API_VERSION } from './model';
import type { ConfigResource } from './model';

/** What a source holds now: its resources, and problems with input it could not turn into resources. */
export interface ConfigSnapshot {
  readonly resources: readonly ConfigResource[];
  readonly errors: readonly string[];
}

/**
 * Where mixer's config comes from. The YAML folder below serves tests and the local mesh; galley's MCP stream can
 * implement the same interface (a snapshot per push).
 */
export interface MixerConfigSource {
  /** The current resources. */
  load(): Promise<ConfigSnapshot>;
  /** Calls `onChange` (debounced) whenever the resources may have changed; returns a function that stops it. */
  watch(onChange: () => void): () => void;
}

/** A fixed set of resources (tests, and callers that assemble config themselves). */
export class StaticConfigSource implements MixerConfigSource {
  private listeners = new Set<() => void>();

  constructor(private resources: readonly ConfigResource[]) {}

  async load(): Promise<ConfigSnapshot> {
    return { resources: this.resources, errors: [] };
  }

  /** Replaces the resources and tells watchers. */
  set(resources: readonly ConfigResource[]): void {
    this.resources = resources;
    for (const l of this.listeners) l();
  }

  watch(onChange: () => void): () => void {
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Splits YAML text into config.istio.io/v1alpha2 resources. Documents of other API groups are skipped (the same
 * folder may hold networking config for pilot); a document that is not a Kubernetes-style object is an error.
 */
export function resourcesFromYaml(
  text: string,
  origin: string,
  defaultNamespace: string,
): { resources: ConfigResource[]; errors: string[] } {
  const resources: ConfigResource[] = [];
  const errors: string[] = [];
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (err) {
    return { resources, errors: [`${origin}: ${(err as Error).message.split('\n')[0]}`] };
  }
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${origin}#${i + 1}` : origin;
    if (doc === null || doc === undefined) return;
    if (!isObj(doc)) {
      errors.push(`${where}: a document must be a map with apiVersion, kind, metadata, spec`);
      return;
    }
    if (doc.apiVersion !== CONFIG_API_VERSION) return;
    const metadata = isObj(doc.metadata) ? doc.metadata : {};
    if (typeof doc.kind !== 'string' || typeof metadata.name !== 'string') {
      errors.push(`${where}: kind and metadata.name are required`);
      return;
    }
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
    resources.push({ kind: doc.kind, name: metadata.name, namespace, spec: doc.spec, origin: where });
  });
  return { resources, errors };
}

/** Reads every *.yaml, *.yml and *.json file of a folder (not its subfolders), and watches it for changes. */
export class YamlFolderSource implements MixerConfigSource {
  constructor(
    readonly dir: string,
    readonly defaultNamespace = 'istio-system',
    private readonly debounceMs = 100,
  ) {}

  async load(): Promise<ConfigSnapshot> {
    const names = (await readdir(this.dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name) && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    const resources: ConfigResource[] = [];
    const errors: string[] = [];
    for (const name of names) {
      let text: string;
      try {
        text = await readFile(join(this.dir, name), 'utf8');
      } catch (err) {
        // Removed between listing and reading: the next change event reloads.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const parsed = resourcesFromYaml(text, name, this.defaultNamespace);
      resources.push(...parsed.resources);
      errors.push(...parsed.errors);
    }
    return { resources, errors };
  }

  watch(onChange: () => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    const fire = () => {
      clearTimeout(timer);
      timer = setTimeout(onChange, this.debounceMs);
    };
    let watcher: FSWatcher | undefined = watch(this.dir, { persistent: false }, fire);
    watcher.on('error', () => undefined);
    return () => {
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    };
  }
}

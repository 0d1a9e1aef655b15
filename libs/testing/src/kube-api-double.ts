import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendJson, sendKubeStatus } from './http-json';

/**
 * A TEST DOUBLE of the Kubernetes API server, for tests of code that uses the real @kubernetes/client-node
 * informers and clients. It speaks the real HTTP protocol for what those need: list (a `…List` with
 * metadata.resourceVersion), get, watch (`?watch=true&resourceVersion=N`: a chunked stream of one JSON event per
 * line — ADDED, MODIFIED, DELETED, BOOKMARK when `allowWatchBookmarks=true`, and ERROR with a 410 Status when N
 * is older than the compacted history), create (POST on a collection, 409 AlreadyExists), replace (PUT, 409
 * Conflict on a stale metadata.resourceVersion) and status writes (PUT or merge-PATCH on `…/{name}/status`). One
 * resourceVersion counter spans all resources, as etcd's does. It is not a Kubernetes API server: no auth, no
 * admission, no field selectors, no pagination.
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  resourceVersion: number;
}

interface Watcher {
  type: ResourceType;
  namespace?: string;
  res: ServerResponse;
  /** The client asked for BOOKMARK events (allowWatchBookmarks=true). */
  bookmarks: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
}

export class KubeApiServerDouble {
  private server: Server | undefined;
  private resourceVersion = 1;
  /** Events older than this resourceVersion are gone (410 Gone to a watch starting before it). */
  private compactedBelow = 0;
  private readonly types = new Map<string, ResourceType>();
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly events = new Map<string, WatchEvent[]>();
  private readonly watchers = new Set<Watcher>();
  private bookmarkTimer: NodeJS.Timeout | undefined;
  /** Writes held by holdWrites(), in arrival order. */
  private hold: { type: ResourceType; waiting: (() => void)[] } | undefined;
  readonly requests: RecordedRequest[] = [];

  constructor(private readonly options: { bookmarkIntervalMs?: number } = {}) {}

  register(type: ResourceType): this {
    const key = typeKey(type.group, type.version, type.plural);
    this.types.set(key, type);
    this.objects.set(key, new Map());
    this.events.set(key, []);
    return this;
  }

  /** Listens on 127.0.0.1 (`port` 0 picks a free one) and resolves with the server's URL. */
  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendKubeStatus(res, 500, 'InternalError', (err as Error).message);
        else res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    if (this.options.bookmarkIntervalMs) {
      this.bookmarkTimer = setInterval(() => this.sendBookmarks(), this.options.bookmarkIntervalMs);
    }
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Creates or replaces an object (ADDED or MODIFIED), stamping a new resourceVersion. */
  apply(type: ResourceType, object: KubeObject): KubeObject {
    const key = typeKey(type.group, type.version, type.plural);
    const store = this.store(key);
    const id = objectId(object);
    const existed = store.has(id);
    const stored = this.stamp(type, object);
    store.set(id, stored);
    this.record(key, {
      type: existed ? 'MODIFIED' : 'ADDED',
      object: stored,
      resourceVersion: this.resourceVersion,
    });
    return stored;
  }

  delete(type: ResourceType, namespace: string | undefined, name: string): void {
    const key = typeKey(type.group, type.version, type.plural);
    const store = this.store(key);
    const id = `${namespace ?? ''}/${name}`;
    const existing = store.get(id);
    if (!existing) return;
    store.delete(id);
    this.resourceVersion++;
    const object = {
      ...existing,
      metadata: { ...existing.metadata, resourceVersion: String(this.resourceVersion) },
    };
    this.record(key, { type: 'DELETED', object, resourceVersion: this.resourceVersion });
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store(typeKey(type.group, type.version, type.plural)).get(`${namespace ?? ''}/${name}`);
  }

  /**
   * Holds every create and replace of objects of `type` (POST, PUT) until releaseWrites(), so that a spec can have
   * several writers read one version and then race to write it: released in arrival order, the first is applied and
   * the later ones answered as the API server would (409).
   */
  holdWrites(type: ResourceType): void {
    this.hold = { type, waiting: [] };
  }

  /** How many writes holdWrites() is holding. */
  get heldWrites(): number {
    return this.hold?.waiting.length ?? 0;
  }

  /** Lets the held writes through, first come first served, and stops holding. */
  releaseWrites(): void {
    const waiting = this.hold?.waiting ?? [];
    this.hold = undefined;
    for (const release of waiting) release();
  }

  /** Forgets the event history: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedBelow = this.resourceVersion + 1;
    for (const list of this.events.values()) list.length = 0;
  }

  /** Ends every open watch, as an API server does on restart or timeout; clients resume from their last version. */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  private store(key: string): Map<string, KubeObject> {
    const store = this.objects.get(key);
    if (!store) throw new Error(`resource type ${key} is not registered with the double`);
    return store;
  }

  private stamp(type: ResourceType, object: KubeObject): KubeObject {
    this.resourceVersion++;
    return {
      ...object,
      apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
      kind: type.kind,
      metadata: { ...object.metadata, resourceVersion: String(this.resourceVersion) },
    };
  }

  private record(key: string, event: WatchEvent): void {
    this.events.get(key)!.push(event);
    const type = this.types.get(key)!;
    for (const w of this.watchers) {
      if (w.type !== type) continue;
      if (w.namespace && event.object.metadata.namespace !== w.namespace) continue;
      w.res.write(JSON.stringify({ type: event.type, object: event.object }) + '\n');
    }
  }

  private sendBookmarks(): void {
    for (const w of this.watchers) {
      const bookmark = {
        type: 'BOOKMARK',
        object: {
          kind: w.type.kind,
          apiVersion: w.type.group ? `${w.type.group}/${w.type.version}` : w.type.version,
          metadata: { resourceVersion: String(this.resourceVersion) },
        },
      };
      if (w.bookmarks) w.res.write(JSON.stringify(bookmark) + '\n');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const query = Object.fromEntries(url.searchParams);
    const body =
      req.method === 'PUT' || req.method === 'PATCH' || req.method === 'POST'
        ? await readJson(req)
        : undefined;
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query, body });
    const route = parsePath(url.pathname);
    const type = route && this.types.get(typeKey(route.group, route.version, route.plural));
    if (!route || !type)
      return sendKubeStatus(
        res,
        404,
        'NotFound',
        `the server could not find the requested resource ${url.pathname}`,
      );
    const key = typeKey(type.group, type.version, type.plural);
    const hold = this.hold;
    const held = hold && typeKey(hold.type.group, hold.type.version, hold.type.plural) === key;
    if (held && (req.method === 'POST' || req.method === 'PUT') && !route.subresource) {
      await new Promise<void>((resolve) => hold.waiting.push(resolve));
    }

    if (req.method === 'GET' && !route.name) {
      if (query.watch === 'true' || query.watch === '1')
        return this.watch(type, key, route.namespace, query, res);
      const items = [...this.store(key).values()].filter(
        (o) => !route.namespace || o.metadata.namespace === route.namespace,
      );
      return sendJson(res, 200, {
        apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
        kind: `${type.kind}List`,
        metadata: { resourceVersion: String(this.resourceVersion) },
        items,
      });
    }
    if (req.method === 'POST' && !route.name) return this.create(type, key, route.namespace, body, res);
    if (!route.name)
      return sendKubeStatus(
        res,
        405,
        'MethodNotAllowed',
        `${req.method} is not supported on a collection here`,
      );
    const existing = this.store(key).get(`${route.namespace ?? ''}/${route.name}`);
    if (!existing) return sendKubeStatus(res, 404, 'NotFound', `${type.plural} "${route.name}" not found`);
    if (req.method === 'GET') return sendJson(res, 200, existing);
    if (req.method === 'PUT' && !route.subresource) return this.replace(type, existing, body, res);
    if (route.subresource === 'status' && (req.method === 'PUT' || req.method === 'PATCH')) {
      const patch = body as { status?: unknown };
      const stored = this.apply(type, {
        ...existing,
        status: req.method === 'PUT' ? patch.status : mergePatch(existing.status, patch.status),
      });
      return sendJson(res, 200, stored);
    }
    return sendKubeStatus(
      res,
      405,
      'MethodNotAllowed',
      `${req.method} ${url.pathname} is not supported by the double`,
    );
  }

  /** POST on a collection: 201 with the stored object, or 409 AlreadyExists. */
  private create(
    type: ResourceType,
    key: string,
    namespace: string | undefined,
    body: unknown,
    res: ServerResponse,
  ): void {
    const object = body as KubeObject;
    const name = object?.metadata?.name;
    if (!name) return sendKubeStatus(res, 422, 'Invalid', 'metadata.name: Required value');
    const ns = type.namespaced ? (namespace ?? object.metadata.namespace) : undefined;
    if (this.store(key).has(`${ns ?? ''}/${name}`)) {
      return sendKubeStatus(res, 409, 'AlreadyExists', `${type.plural} "${name}" already exists`);
    }
    const metadata = { ...object.metadata, name, namespace: ns };
    delete metadata.resourceVersion; // the server assigns it
    sendJson(res, 201, this.apply(type, { ...object, metadata }));
  }

  /**
   * PUT on an object: replaces it. A metadata.resourceVersion in the body must be the stored one (optimistic
   * concurrency, 409 Conflict otherwise), as the API server checks it.
   */
  private replace(type: ResourceType, existing: KubeObject, body: unknown, res: ServerResponse): void {
    const object = body as KubeObject;
    const sent = object?.metadata?.resourceVersion;
    if (sent && sent !== existing.metadata.resourceVersion) {
      return sendKubeStatus(
        res,
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${type.plural} "${existing.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const metadata = {
      ...object.metadata,
      name: existing.metadata.name,
      namespace: existing.metadata.namespace,
    };
    sendJson(res, 200, this.apply(type, { ...object, metadata }));
  }

  private watch(
    type: ResourceType,
    key: string,
    namespace: string | undefined,
    query: Record<string, string>,
    res: ServerResponse,
  ): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // clients wait for the headers before reading events
    const from = Number(query.resourceVersion || '0');
    if (from && from < this.compactedBelow - 1) {
      const gone = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${from} (${this.compactedBelow - 1})`,
        reason: 'Expired',
        code: 410,
      };
      res.end(JSON.stringify({ type: 'ERROR', object: gone }) + '\n');
      return;
    }
    for (const event of this.events.get(key)!) {
      if (event.resourceVersion <= from) continue;
      if (namespace && event.object.metadata.namespace !== namespace) continue;
      res.write(JSON.stringify({ type: event.type, object: event.object }) + '\n');
    }
    const watcher: Watcher = { type, namespace, res, bookmarks: query.allowWatchBookmarks === 'true' };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
    const timeout = Number(query.timeoutSeconds || '0');
    if (timeout > 0) setTimeout(() => res.end(), timeout * 1000).unref();
  }
}

function typeKey(group: string, version: string, plural: string): string {
  return `${group}/${version}/${plural}`;
}

function objectId(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

interface Route {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** /api/v1/[namespaces/NS/]PLURAL[/NAME[/SUB]] and /apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/NAME[/SUB]]. */
function parsePath(path: string): Route | undefined {
  const parts = path.split('/').filter(Boolean);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    [group, version, rest] = ['', parts[1], parts.slice(2)];
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  return { group, version, plural: rest[0], namespace, name: rest[1], subresource: rest[2] };
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

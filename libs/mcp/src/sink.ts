import { EventEmitter } from 'node:events';
import { credentials as grpcCredentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { ChannelCredentials, ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import { ads, core } from '@flotilla/proto';
import type { discovery } from '@flotilla/proto';
import type { Logger } from '@flotilla/service-kit';
import { contentVersion } from '@flotilla/xds';
import { Backoff } from './backoff';
import type { BackoffOptions } from './backoff';
import { decodeMcpResource } from './resource';
import type { McpResource } from './resource';

export interface McpSinkOptions {
  /** galley's MCP address, host:port. */
  address: string;
  /** Who this sink is (the node of the first request). */
  node: { id: string; cluster?: string; metadata?: Record<string, unknown> };
  /** The collections to subscribe to, e.g. "networking.istio.io/v1alpha3/VirtualService". */
  collections: readonly string[];
  /** Per collection, the resource names to subscribe to; a collection not listed gets all its resources. */
  resourceNames?: Readonly<Record<string, readonly string[]>>;
  /** State of the world (default) or delta. */
  mode?: 'sotw' | 'delta';
  /**
   * Accepts or rejects a collection's new content (all of its resources as they would be after the update). A
   * throw rejects it: the update is NACKed with the error's message and the last good content stays.
   */
  validate?: (collection: string, resources: readonly McpResource[]) => void;
  /** Reconnect delays; default 500 ms doubling to 30 s, ±20 % jitter. */
  backoff?: BackoffOptions;
  logger: Logger;
  /** Plaintext unless given. */
  credentials?: ChannelCredentials;
}

/** The events of a sink. */
export interface McpSinkEvents {
  /** A collection's accepted content changed: all its resources now, and the names removed. */
  change: [collection: string, resources: McpResource[], removed: string[]];
  /** The first response arrived on a new stream. */
  connected: [];
  /** The stream ended; the sink reconnects after a backoff and keeps serving its last good snapshot meanwhile. */
  disconnected: [error: Error];
  /** An update was rejected (decode failure or the validator); the last good content stays. */
  nack: [collection: string, message: string];
}

export interface McpSinkStatus {
  address: string;
  mode: 'sotw' | 'delta';
  connected: boolean;
  reconnects: number;
  lastError?: { message: string; at: string };
  collections: Record<
    string,
    {
      /** The version of the last accepted update ("" before the first). */
      version: string;
      resources: number;
      acceptedAt?: string;
      lastNack?: { message: string; version: string; at: string };
    }
  >;
}

interface Held {
  resource: McpResource;
  /** The server's per-resource version: the content hash of the resource's encoded Any. */
  version: string;
}

class CollectionState {
  resources = new Map<string, Held>();
  version = '';
  acceptedAt: Date | undefined;
  lastNack: { message: string; version: string; at: Date } | undefined;

  constructor(
    readonly collection: string,
    readonly names: readonly string[] | undefined,
  ) {}

  list(): McpResource[] {
    return [...this.resources.values()].map((h) => h.resource);
  }
}

type SotwStream = ClientDuplexStream<discovery.DiscoveryRequest, discovery.DiscoveryResponse>;
type DeltaStream = ClientDuplexStream<discovery.DeltaDiscoveryRequest, discovery.DeltaDiscoveryResponse>;

/**
 * The MCP sink pilot and mixer use to follow galley: subscribes to collections over ADS, ACKs what it accepts,
 * NACKs (with error_detail) what does not decode or what the validator rejects, and keeps the last good snapshot
 * of every collection — also while galley is away. It reconnects with exponential backoff and jitter, and resyncs
 * on every new stream (in delta mode it tells the server what it holds, so only differences are sent).
 *
 * In SotW mode every response carries the whole collection (as the server sends all subscribed resources each
 * time), so a resource missing from a response has been removed.
 */
export class McpSink extends EventEmitter<McpSinkEvents> {
  private readonly state = new Map<string, CollectionState>();
  private readonly mode: 'sotw' | 'delta';
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private client: InstanceType<typeof ads.AggregatedDiscoveryServiceClient> | undefined;
  private stream: SotwStream | DeltaStream | undefined;
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private connected = false;
  private reconnects = 0;
  private lastError: { message: string; at: Date } | undefined;
  private syncWaiters: (() => void)[] = [];

  constructor(private readonly options: McpSinkOptions) {
    super();
    this.mode = options.mode ?? 'sotw';
    this.backoff = new Backoff(options.backoff);
    this.log = options.logger.child({ module: 'mcp-sink', address: options.address });
    for (const collection of options.collections) {
      this.state.set(collection, new CollectionState(collection, options.resourceNames?.[collection]));
    }
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.client = new ads.AggregatedDiscoveryServiceClient(
      this.options.address,
      this.options.credentials ?? grpcCredentials.createInsecure(),
      {
        // grpc-js keeps its own reconnect backoff per channel (1 s first, growing to 120 s), which would hold a
        // sink back long after galley is up again; bound it by the sink's own backoff instead.
        'grpc.initial_reconnect_backoff_ms': this.backoff.initialMs,
        'grpc.max_reconnect_backoff_ms': this.backoff.maxMs,
      },
    );
    this.connect();
  }

  /** Stops following galley; the last snapshot stays readable. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.generation++;
    this.stream?.cancel();
    this.stream = undefined;
    this.client?.close();
    this.connected = false;
  }

  /** The last accepted resources of a collection. */
  resources(collection: string): McpResource[] {
    return this.state.get(collection)?.list() ?? [];
  }

  /** Every collection's last accepted resources. */
  snapshot(): Map<string, McpResource[]> {
    return new Map([...this.state].map(([c, s]) => [c, s.list()]));
  }

  /** Whether every collection has been received at least once. */
  hasSynced(): boolean {
    return [...this.state.values()].every((s) => s.acceptedAt !== undefined);
  }

  /** Resolves once every collection has been received at least once. */
  waitForSync(): Promise<void> {
    if (this.hasSynced()) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  status(): McpSinkStatus {
    const collections: McpSinkStatus['collections'] = {};
    for (const [name, s] of this.state) {
      collections[name] = {
        version: s.version,
        resources: s.resources.size,
        acceptedAt: s.acceptedAt?.toISOString(),
        lastNack: s.lastNack && { ...s.lastNack, at: s.lastNack.at.toISOString() },
      };
    }
    return {
      address: this.options.address,
      mode: this.mode,
      connected: this.connected,
      reconnects: this.reconnects,
      lastError: this.lastError && { message: this.lastError.message, at: this.lastError.at.toISOString() },
      collections,
    };
  }

  private connect(): void {
    if (this.stopped || !this.client) return;
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    let ended = false;
    const onEnd = (error: Error) => {
      if (ended || !current()) return;
      ended = true;
      this.onStreamEnd(error);
    };
    if (this.mode === 'delta') {
      const stream = this.client.deltaAggregatedResources();
      this.stream = stream;
      stream.on('data', (response: discovery.DeltaDiscoveryResponse) => {
        if (current()) this.guard(() => this.onDelta(stream, response));
      });
      stream.on('error', onEnd);
      stream.on('status', (s) => onEnd(new Error(`stream ended: ${GrpcStatus[s.code]} ${s.details}`)));
      let first = true;
      for (const s of this.state.values()) {
        stream.write({
          node: first ? this.node() : undefined,
          typeUrl: s.collection,
          resourceNamesSubscribe: s.names ? [...s.names] : ['*'],
          resourceNamesUnsubscribe: [],
          resourceLocatorsSubscribe: [],
          resourceLocatorsUnsubscribe: [],
          // What we hold, so the server sends only what differs (and names what went away while we were gone).
          initialResourceVersions: Object.fromEntries([...s.resources].map(([name, h]) => [name, h.version])),
          responseNonce: '',
        });
        first = false;
      }
    } else {
      const stream = this.client.streamAggregatedResources();
      this.stream = stream;
      stream.on('data', (response: discovery.DiscoveryResponse) => {
        if (current()) this.guard(() => this.onSotw(stream, response));
      });
      stream.on('error', onEnd);
      stream.on('status', (s) => onEnd(new Error(`stream ended: ${GrpcStatus[s.code]} ${s.details}`)));
      let first = true;
      for (const s of this.state.values()) {
        stream.write(this.sotwRequest(s, { node: first ? this.node() : undefined, versionInfo: s.version }));
        first = false;
      }
    }
  }

  private onStreamEnd(error: Error): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.stream = undefined;
    const message = (error as ServiceError).details || error.message;
    this.lastError = { message, at: new Date() };
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.reconnects++;
    // Not reaching galley yet (it may still be starting) is routine; losing a stream that worked is worth a warning.
    const level = wasConnected ? 'warn' : 'info';
    this.log[level]({ error: message, retryInMs: delay, wasConnected }, 'MCP stream ended; reconnecting');
    this.emit('disconnected', error);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, delay);
  }

  private markConnected(): void {
    if (this.connected) return;
    this.connected = true;
    this.backoff.reset();
    this.log.info('MCP stream connected');
    this.emit('connected');
  }

  private onSotw(stream: SotwStream, response: discovery.DiscoveryResponse): void {
    this.markConnected();
    const s = this.state.get(response.typeUrl);
    if (!s) {
      this.log.warn({ collection: response.typeUrl }, 'response for a collection not subscribed to; ignored');
      return;
    }
    let next: Map<string, Held>;
    try {
      next = new Map();
      for (const any of response.resources) {
        const resource = decodeMcpResource(any);
        next.set(resource.name, { resource, version: contentVersion(any) });
      }
      this.options.validate?.(
        s.collection,
        [...next.values()].map((h) => h.resource),
      );
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      this.reject(s, response.versionInfo, message);
      stream.write(
        this.sotwRequest(s, {
          versionInfo: s.version,
          responseNonce: response.nonce,
          errorDetail: { code: GrpcStatus.INVALID_ARGUMENT, message, details: [] },
        }),
      );
      return;
    }
    const removed = [...s.resources.keys()].filter((name) => !next.has(name));
    const changed =
      removed.length > 0 || [...next].some(([name, h]) => s.resources.get(name)?.version !== h.version);
    this.accept(s, next, response.versionInfo);
    stream.write(this.sotwRequest(s, { versionInfo: response.versionInfo, responseNonce: response.nonce }));
    if (changed) this.emit('change', s.collection, s.list(), removed);
    this.notifySynced();
  }

  private onDelta(stream: DeltaStream, response: discovery.DeltaDiscoveryResponse): void {
    this.markConnected();
    const s = this.state.get(response.typeUrl);
    if (!s) {
      this.log.warn({ collection: response.typeUrl }, 'response for a collection not subscribed to; ignored');
      return;
    }
    const next = new Map(s.resources);
    const removed = response.removedResources.filter((name) => s.resources.has(name));
    let changed = removed.length > 0;
    try {
      for (const r of response.resources) {
        if (!r.resource) throw new Error(`resource ${r.name} has no body`);
        const resource = decodeMcpResource(r.resource);
        const version = r.version || contentVersion(r.resource);
        if (s.resources.get(r.name)?.version !== version) changed = true;
        next.set(r.name, { resource, version });
      }
      for (const name of response.removedResources) next.delete(name);
      this.options.validate?.(
        s.collection,
        [...next.values()].map((h) => h.resource),
      );
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      this.reject(s, response.systemVersionInfo, message);
      stream.write(
        this.deltaAck(s, response.nonce, { code: GrpcStatus.INVALID_ARGUMENT, message, details: [] }),
      );
      return;
    }
    this.accept(s, next, response.systemVersionInfo);
    stream.write(this.deltaAck(s, response.nonce));
    if (changed) this.emit('change', s.collection, s.list(), removed);
    this.notifySynced();
  }

  private accept(s: CollectionState, next: Map<string, Held>, version: string): void {
    s.resources = next;
    s.version = version;
    s.acceptedAt = new Date();
    this.log.debug({ collection: s.collection, version, resources: next.size }, 'accepted');
  }

  private reject(s: CollectionState, version: string, message: string): void {
    s.lastNack = { message, version, at: new Date() };
    this.log.warn(
      { collection: s.collection, version, error: message },
      'rejected an update; keeping the last good one',
    );
    this.emit('nack', s.collection, message);
  }

  private sotwRequest(
    s: CollectionState,
    fields: Partial<discovery.DiscoveryRequest>,
  ): discovery.DiscoveryRequest {
    return {
      versionInfo: '',
      resourceNames: s.names ? [...s.names] : [],
      resourceLocators: [],
      typeUrl: s.collection,
      responseNonce: '',
      ...fields,
    };
  }

  private deltaAck(
    s: CollectionState,
    nonce: string,
    errorDetail?: discovery.DeltaDiscoveryRequest['errorDetail'],
  ): discovery.DeltaDiscoveryRequest {
    return {
      typeUrl: s.collection,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      resourceLocatorsSubscribe: [],
      resourceLocatorsUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: nonce,
      errorDetail,
    };
  }

  private node(): core.Node {
    return core.Node.fromPartial({
      id: this.options.node.id,
      cluster: this.options.node.cluster ?? '',
      metadata: this.options.node.metadata ?? {},
      userAgentName: 'flotilla-mcp-sink',
    });
  }

  private notifySynced(): void {
    if (this.syncWaiters.length === 0 || !this.hasSynced()) return;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }

  /** A listener that throws must not take the stream down with it. */
  private guard(handle: () => void): void {
    try {
      handle();
    } catch (err) {
      this.log.error({ err }, 'MCP sink failed to handle a response');
    }
  }
}

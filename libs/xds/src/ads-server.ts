import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ads, core, discovery } from '@flotilla/proto';
import type { Logger } from '@flotilla/service-kit';
import type { Registry } from 'prom-client';
import type { AdsConnection, StreamHost } from './connection';
import { Debouncer } from './debounce';
import type { DebounceOptions } from './debounce';
import { DeltaConnection } from './delta-stream';
import { XdsMetrics } from './metrics';
import { mergePushRequests, pushAffectsConnection, pushRequest } from './push-request';
import type { PushRequest, PushScope, ResourceFilter } from './push-request';
import { PushQueue } from './push-queue';
import { EncodedResourceCache } from './resource-cache';
import { ADS_SERVICE } from './response-encoding';
import { SotwConnection } from './sotw-stream';
import { SubscriberIndex } from './subscriber-index';
import { indexedThrough } from './subscriptions';
import type { Subscription } from './subscriptions';
import type { ConnectionStatus } from './status';
import type { ConnectionInfo, Generator } from './types';

export interface AdsServerOptions {
  logger: Logger;
  /** Where Istio's xDS metrics go; none are recorded without it. */
  registry?: Registry;
  /** The generator of each type URL served. */
  generators?: ReadonlyMap<string, Generator> | Readonly<Record<string, Generator>>;
  /** Serves every type URL without its own generator (galley serves any collection this way). */
  fallbackGenerator?: Generator;
  /** Push debouncing; default 100 ms after the last change, at most 10 s. */
  debounce?: DebounceOptions;
  /** Connections being pushed at once. Default 100 (Istio's PILOT_PUSH_THROTTLE). */
  maxConcurrentPushes?: number;
  /** A client that does not read its responses for this long is disconnected. Default 30 s; 0 never. */
  sendTimeoutMs?: number;
  /** Sent as control_plane.identifier in every response. */
  controlPlaneId?: string;
  /** Shared encoded resources; a fresh one (20 000 entries) by default. */
  cache?: EncodedResourceCache;
  /** The `version` label of pilot_xds. Default: node metadata ISTIO_VERSION, else the user agent version. */
  proxyVersion?: (node: core.Node) => string;
  onConnect?: (connection: ConnectionInfo) => void;
  onDisconnect?: (connection: ConnectionInfo) => void;
}

export interface PushOptions {
  /** Why ("config", "endpoint", "secret", ...): the pilot_push_triggers label and the push log. Default "config". */
  reason?: string;
  /** Only the connections this admits are pushed. */
  scope?: PushScope;
  /**
   * The resources the change may have altered. Only they are regenerated, only connections watching one of them
   * (or a wildcard) are pushed, and SotW RDS/EDS responses carry only those that changed.
   */
  resources?: ResourceFilter;
}

const DEFAULT_MAX_CONCURRENT_PUSHES = 100;
const DEFAULT_SEND_TIMEOUT_MS = 30_000;

/** A push of endpoints only, which `debounce.endpoints: false` sends without waiting. */
function isEndpointOnly(request: PushRequest): boolean {
  return !request.full && request.reasons.size === 1 && request.reasons.has('endpoint');
}

/**
 * The ADS service (SotW and delta) over caller-supplied generators, with debounced, coalesced and throttled
 * pushes. Register it on a gRPC server with `grpcServer.addService(adsServer.definition, adsServer.implementation)`.
 */
export class AdsServer {
  readonly definition = ADS_SERVICE;
  readonly implementation: ads.AggregatedDiscoveryServiceServer;
  readonly cache: EncodedResourceCache;
  private readonly logger: Logger;
  private readonly metrics: XdsMetrics | undefined;
  private readonly generators = new Map<string, Generator>();
  private fallbackGenerator: Generator | undefined;
  private readonly connections_ = new Map<string, AdsConnection>();
  /** Every open stream, identified or not, so `close` can end them all. */
  private readonly streams = new Set<AdsConnection>();
  private readonly debouncer: Debouncer<PushRequest>;
  private readonly queue: PushQueue<AdsConnection>;
  private readonly host: StreamHost;
  private readonly connectionVersion = new WeakMap<AdsConnection, string>();
  private readonly subscribers = new SubscriberIndex<Subscription>();
  private connectionCounter = 0;
  private closed = false;

  constructor(private readonly options: AdsServerOptions) {
    this.logger = options.logger.child({ module: 'xds' });
    this.metrics = options.registry ? XdsMetrics.on(options.registry) : undefined;
    this.cache = options.cache ?? new EncodedResourceCache();
    const generators = options.generators ?? {};
    const entries = generators instanceof Map ? [...generators] : Object.entries(generators);
    for (const [typeUrl, generator] of entries) this.generators.set(typeUrl, generator);
    this.fallbackGenerator = options.fallbackGenerator;
    this.debouncer = new Debouncer<PushRequest>(
      options.debounce ?? {},
      mergePushRequests,
      (merged, ms, count) => this.dispatch(merged, ms, count),
    );
    this.queue = new PushQueue<AdsConnection>(
      options.maxConcurrentPushes ?? DEFAULT_MAX_CONCURRENT_PUSHES,
      (connection, request) => (connection.closed ? undefined : connection.push(request)),
    );
    this.host = this.makeHost();
    this.implementation = {
      streamAggregatedResources: (
        call: ServerDuplexStream<discovery.DiscoveryRequest, discovery.DiscoveryResponse>,
      ) => this.accept(new SotwConnection(this.host, call)),
      deltaAggregatedResources: (
        call: ServerDuplexStream<discovery.DeltaDiscoveryRequest, discovery.DeltaDiscoveryResponse>,
      ) => this.accept(new DeltaConnection(this.host, call)),
    };
  }

  setGenerator(typeUrl: string, generator: Generator): void {
    this.generators.set(typeUrl, generator);
  }

  /** Regenerates every type for every connection, after the debounce. */
  pushAll(reason = 'global'): void {
    this.request(pushRequest({ full: true, reason }));
  }

  /** Regenerates only `types` (for the connections `scope` admits), after the debounce. */
  push(types: Iterable<string>, options: PushOptions = {}): void {
    const typeSet = [...types];
    if (typeSet.length === 0) return;
    this.request(
      pushRequest({
        full: false,
        types: typeSet,
        scope: options.scope,
        resources: options.resources,
        reason: options.reason ?? 'config',
      }),
    );
  }

  /** Resolves once no push is waiting or running (pushes still in their debounce are not waited for). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Dispatches any debounced push now and waits until every queued push has been sent. */
  async settle(): Promise<void> {
    this.debouncer.flush();
    await this.queue.idle();
  }

  connections(): ConnectionInfo[] {
    return [...this.connections_.values()];
  }

  connection(id: string): ConnectionInfo | undefined {
    return this.connections_.get(id);
  }

  /** The syncz view: every identified connection with the state of each of its types. JSON-able. */
  status(): ConnectionStatus[] {
    return [...this.connections_.values()].map((c) => c.status()).sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Stops pushing and ends every open stream with UNAVAILABLE, so clients reconnect (to this server once it is
   * back, or to another). Call before stopping the gRPC server, whose graceful stop would otherwise wait for
   * streams that never end by themselves.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.debouncer.stop();
    for (const stream of [...this.streams]) stream.fail(GrpcStatus.UNAVAILABLE, 'xDS server shutting down');
  }

  private request(request: PushRequest): void {
    if (this.closed) return;
    for (const reason of request.reasons.keys()) this.metrics?.pushTriggers.inc({ type: reason });
    if (this.options.debounce?.endpoints === false && isEndpointOnly(request)) this.dispatch(request, 0, 1);
    else this.debouncer.add(request);
  }

  private dispatch(request: PushRequest, debouncedMs: number, merged: number): void {
    this.metrics?.debounceTime.observe(debouncedMs / 1000);
    let queued = 0;
    // The streams the subscriber index finds, when it can; else every stream, asked in turn.
    const concerned = request.resources && this.concernedByIndex(request, request.resources);
    for (const connection of concerned ?? this.connections_.values()) {
      if (request.scope && !request.scope(connection)) continue;
      if (!concerned && request.resources && !pushAffectsConnection(request, connection)) continue;
      this.queue.enqueue(connection, request);
      queued++;
    }
    this.logger.info(
      {
        full: request.full,
        types: request.full ? undefined : [...request.types],
        reasons: Object.fromEntries(request.reasons),
        merged,
        debouncedMs,
        connections: queued,
      },
      'push',
    );
  }

  /**
   * The streams a filtered push may change anything for, found through the subscriber index: those subscribing to
   * a name the filter admits, and the wildcard subscribers of its types. The names each subscription admits are
   * recorded for the push as they are found (`Subscription.admit`), and the filter is recorded as gone through
   * (`indexedThrough`): a subscription found for none of its names then admits none without being asked. Streams
   * the name tests do not hold for (`ResourceFilter.unindexed`) are asked in turn. Undefined when the push is full
   * or one of its types has no test of names alone (`ResourceFilter.byName`): then every stream is asked.
   */
  private concernedByIndex(request: PushRequest, filter: ResourceFilter): Set<AdsConnection> | undefined {
    if (request.full || !filter.byName) return undefined;
    const tests: [string, (name: string) => boolean][] = [];
    for (const typeUrl of request.types) {
      const test = filter.byName(typeUrl);
      if (!test) return undefined;
      tests.push([typeUrl, test]);
    }
    const unindexed = filter.unindexed;
    const concerned = new Set<AdsConnection>();
    for (const [typeUrl, test] of tests) {
      for (const subscription of this.subscribers.wildcards(typeUrl))
        concerned.add(subscription.owner as AdsConnection);
      for (const [name, subscriptions] of this.subscribers.names(typeUrl)) {
        if (!test(name)) continue;
        for (const subscription of subscriptions) {
          const connection = subscription.owner as AdsConnection;
          if (unindexed?.(connection) || !filter(connection, typeUrl, name)) continue;
          subscription.admit(filter, connection, name);
          concerned.add(connection);
        }
      }
    }
    indexedThrough(filter, request.types, this.subscribers);
    if (unindexed) {
      for (const connection of this.connections_.values()) {
        if (!concerned.has(connection) && unindexed(connection) && pushAffectsConnection(request, connection))
          concerned.add(connection);
      }
    }
    return concerned;
  }

  private accept(connection: AdsConnection): void {
    if (this.closed) {
      connection.fail(GrpcStatus.UNAVAILABLE, 'xDS server shutting down');
      return;
    }
    this.streams.add(connection);
  }

  private makeHost(): StreamHost {
    const proxyVersion = this.options.proxyVersion ?? defaultProxyVersion;
    return {
      logger: this.logger,
      metrics: this.metrics,
      cache: this.cache,
      sendTimeoutMs: this.options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
      controlPlane: this.options.controlPlaneId ? { identifier: this.options.controlPlaneId } : undefined,
      subscribers: this.subscribers,
      generatorFor: (typeUrl) => this.generators.get(typeUrl) ?? this.fallbackGenerator,
      connectionIdFor: (node) => `${node.id}-${++this.connectionCounter}`,
      register: (connection) => {
        this.connections_.set(connection.id, connection);
        const version = proxyVersion(connection.node);
        this.connectionVersion.set(connection, version);
        this.metrics?.connected(version);
        this.notify(this.options.onConnect, connection);
      },
      unregister: (connection) => {
        this.streams.delete(connection);
        if (this.connections_.get(connection.id) !== connection) return;
        this.connections_.delete(connection.id);
        this.queue.remove(connection);
        this.metrics?.disconnected(this.connectionVersion.get(connection) ?? '');
        this.logger.info({ connection: connection.id }, 'xDS client disconnected');
        this.notify(this.options.onDisconnect, connection);
      },
    };
  }

  private notify(listener: ((c: ConnectionInfo) => void) | undefined, connection: ConnectionInfo): void {
    if (!listener) return;
    try {
      listener(connection);
    } catch (err) {
      this.logger.error({ err, connection: connection.id }, 'xDS connection listener failed');
    }
  }
}

function defaultProxyVersion(node: core.Node): string {
  const fromMetadata = node.metadata?.['ISTIO_VERSION'];
  if (typeof fromMetadata === 'string' && fromMetadata) return fromMetadata;
  return node.userAgentVersion ?? '';
}

import { performance } from 'node:perf_hooks';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { core } from '@flotilla/proto';
import type { rpcStatus } from '@flotilla/proto';
import type { Logger } from '@flotilla/service-kit';
import type { MaybePromise } from './maybe-async';
import type { XdsMetrics } from './metrics';
import { pushAffectsWatched } from './push-request';
import type { PushRequest } from './push-request';
import type { EncodedResourceCache } from './resource-cache';
import type { ConnectionStatus, TypeStatus } from './status';
import type { SubscriberIndex } from './subscriber-index';
import { Subscription } from './subscriptions';
import { canonicalTypeUrl, inPushOrder, typesInPushOrder } from './type-urls';
import type { ConnectionInfo, Generator, ResourceEntry, VersionedResource, WatchedResources } from './types';
import { VersionMap, contentVersion } from './versions';

/** Requests waiting on one stream before it stops reading, and the count at which it reads again. */
const QUEUED_REQUESTS_HIGH = 64;
const QUEUED_REQUESTS_LOW = 16;

/** What a stream needs from the server that owns it. */
export interface StreamHost {
  readonly logger: Logger;
  readonly metrics: XdsMetrics | undefined;
  readonly cache: EncodedResourceCache;
  /** 0 disables the limit. */
  readonly sendTimeoutMs: number;
  readonly controlPlane: core.ControlPlane | undefined;
  /** Where the streams' subscriptions are indexed by name (see SubscriberIndex). */
  readonly subscribers?: SubscriberIndex<Subscription>;
  generatorFor(typeUrl: string): Generator | undefined;
  connectionIdFor(node: core.Node): string;
  /** The stream has identified itself (first request with a node): it now receives pushes. */
  register(connection: AdsConnection): void;
  /** The stream closed (whether or not it had identified itself). */
  unregister(connection: AdsConnection): void;
}

/** Times are milliseconds since the epoch (a Date per response and ACK would be an object more on the push path). */
export interface SentRecord {
  version: string;
  nonce: string;
  at: number;
  resources: number;
  bytes: number;
}

export interface AckRecord {
  version: string;
  nonce: string;
  at: number;
}

export interface NackRecord {
  /** The version_info the client sent with its NACK (gRFC A46: it may be the rejected version). */
  version: string;
  /** The version of the response the NACK answers. */
  rejectedVersion: string;
  nonce: string;
  code: number;
  message: string;
  at: number;
}

/** One type on one stream: its subscription and the protocol state around it. */
export class TypeState {
  readonly subscription: Subscription;
  sent: SentRecord | undefined;
  acked: AckRecord | undefined;
  nack: NackRecord | undefined;
  generateError: { message: string; at: number } | undefined;
  /**
   * Delta: what the client holds, name → version (from initial_resource_versions, then from what was sent).
   * SotW: the names and versions of the last response.
   */
  readonly clientVersions = new VersionMap();

  constructor(
    readonly typeUrl: string,
    index?: SubscriberIndex<Subscription>,
    owner?: ConnectionInfo,
  ) {
    this.subscription = new Subscription(typeUrl, index, owner);
  }

  /**
   * Records a response as sent. The record is updated in place: a push writes thousands of them, and a fresh
   * object per stream and push would outlive the young generation and be copied out of it.
   */
  recordSent(version: string, nonce: string, resources: number, bytes: number): void {
    const sent = this.sent;
    if (!sent) {
      this.sent = { version, nonce, at: Date.now(), resources, bytes };
      return;
    }
    sent.version = version;
    sent.nonce = nonce;
    sent.at = Date.now();
    sent.resources = resources;
    sent.bytes = bytes;
  }

  /** Records an ACK, in place as recordSent does. */
  recordAck(version: string, nonce: string): void {
    const acked = this.acked;
    if (!acked) {
      this.acked = { version, nonce, at: Date.now() };
      return;
    }
    acked.version = version;
    acked.nonce = nonce;
    acked.at = Date.now();
  }

  /** Where the last response stands: not sent, waiting for its ACK/NACK, ACKed or NACKed. */
  get state(): TypeStatus['state'] {
    if (!this.sent) return 'NOT_SENT';
    if (this.acked?.nonce === this.sent.nonce) return 'ACKED';
    if (this.nack?.nonce === this.sent.nonce) return 'NACKED';
    return 'SENT';
  }
}

/** Why a response is being built: the client asked (a new subscription), or a push. */
export type ResponseCause = 'request' | 'push';

/**
 * A stream task (a request to handle, a push to make): a method of the stream, called with the stream as `this`,
 * and its argument, passed apart so that running a task allocates no closure. Synchronous unless it has to wait.
 */
type Task<A> = (arg: A) => MaybePromise<unknown>;

interface QueuedTask {
  task: Task<never>;
  arg: unknown;
  /** Resolves the promise `serialize` returned for it. */
  done: () => void;
}

/**
 * What SotW and delta streams share: the node, per-type state, one task at a time per stream (requests and
 * pushes never interleave, so responses go out in the order they were generated), sending with back-pressure,
 * failing the stream with a status, and the debug view.
 */
export abstract class AdsConnection<Req = unknown, Res = unknown> implements ConnectionInfo {
  id = '';
  node: core.Node = core.Node.create();
  readonly peer: string;
  readonly connectedAt = new Date();
  protected readonly types = new Map<string, TypeState>();
  protected readonly log: Logger;
  /** Whether a task is running (synchronously, or waiting on a promise). */
  private busy = false;
  /** Tasks that came while one was running, in arrival order, with what resolves their caller's promise. */
  private readonly waiting: QueuedTask[] = [];
  private queuedRequests = 0;
  private closedFlag = false;
  private identified = false;
  private readonly closeListeners = new Set<() => void>();

  constructor(
    readonly protocol: 'sotw' | 'delta',
    protected readonly host: StreamHost,
    protected readonly call: ServerDuplexStream<Req, Res>,
  ) {
    this.peer = safePeer(call);
    this.log = host.logger.child({ peer: this.peer, protocol });
    call.on('data', (request: Req) => {
      if (this.closedFlag) return;
      // Stop reading while requests pile up behind a slow push: HTTP/2 flow control then holds the client back,
      // instead of this stream queueing its requests without bound.
      if (++this.queuedRequests >= QUEUED_REQUESTS_HIGH) call.pause();
      const handled = this.serialize(this.handleRequest, request);
      if (handled) void handled.then(() => this.requestHandled());
      else this.requestHandled();
    });
    call.on('end', () => {
      // The client half-closed: finish our side too.
      this.close();
      call.end();
    });
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
    call.on('close', () => this.close());
  }

  // ConnectionInfo

  watched(typeUrl: string): WatchedResources | undefined {
    const state = this.types.get(typeUrl);
    return state?.subscription.active ? state.subscription : undefined;
  }

  watchedTypes(): string[] {
    return [...this.types.values()].filter((s) => s.subscription.active).map((s) => s.typeUrl);
  }

  watches(typeUrl: string, name?: string): boolean {
    const sub = this.watched(typeUrl);
    if (!sub) return false;
    return name === undefined || sub.wildcard || sub.names.has(name);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Regenerates and sends the types `request` covers, in make-before-break order. Undefined when it finished at
   * once, else a promise of its end.
   */
  push(request: PushRequest): Promise<void> | undefined {
    return this.serialize(this.pushNow, request);
  }

  private pushNow(request: PushRequest): MaybePromise<void> {
    return this.pushTypes(
      request,
      request.full ? inPushOrder(this.types.keys()) : typesInPushOrder(request),
      0,
    );
  }

  /** Sends those of `types` (from `from` on) that the push may change for this stream, one after another. */
  private pushTypes(request: PushRequest, types: readonly string[], from: number): MaybePromise<void> {
    for (let i = from; i < types.length; i++) {
      if (this.closedFlag) return;
      const state = this.types.get(types[i]);
      if (
        state === undefined ||
        !state.subscription.active ||
        !pushAffectsWatched(request, this, state.subscription) ||
        this.host.generatorFor(state.typeUrl) === undefined
      )
        continue;
      const sent = this.respond(state, request, 'push');
      // A failed generator skips the rest of this push: the client keeps its last good config, and
      // later types (listeners, routes) are not sent pointing at what earlier ones failed to deliver.
      if (sent instanceof Promise) {
        return sent.then((ok) => (ok ? this.pushTypes(request, types, i + 1) : undefined));
      }
      if (!sent) return;
    }
    this.host.metrics?.converged((Date.now() - request.start) / 1000);
  }

  /** Ends the stream with a status (a malformed request, shutdown, a client that stopped reading). */
  fail(code: GrpcStatus, details: string): void {
    if (this.closedFlag) return;
    this.log.warn(
      { connection: this.id || undefined, code: GrpcStatus[code], details },
      'closing xDS stream',
    );
    const error = Object.assign(new Error(details), { code, details });
    this.call.emit('error', error);
    this.close();
  }

  /** Forgets the stream (idempotent): no more pushes, status or metrics for it. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.host.unregister(this);
    for (const state of this.types.values()) state.subscription.detach();
    for (const listener of this.closeListeners) listener();
    this.closeListeners.clear();
  }

  status(): ConnectionStatus {
    const types: TypeStatus[] = [];
    for (const state of this.types.values()) {
      types.push({
        typeUrl: state.typeUrl,
        ...state.subscription.toJSON(),
        state: state.state,
        sent: state.sent && { ...state.sent, at: isoTime(state.sent.at) },
        acked: state.acked && { ...state.acked, at: isoTime(state.acked.at) },
        nack: state.nack && { ...state.nack, at: isoTime(state.nack.at) },
        generateError: state.generateError && {
          message: state.generateError.message,
          at: isoTime(state.generateError.at),
        },
        resourceVersions: Object.fromEntries(state.clientVersions),
      });
    }
    return {
      id: this.id,
      protocol: this.protocol,
      peer: this.peer,
      connectedAt: this.connectedAt.toISOString(),
      node: {
        id: this.node.id,
        cluster: this.node.cluster,
        locality: this.node.locality && {
          region: this.node.locality.region,
          zone: this.node.locality.zone,
          subZone: this.node.locality.subZone,
        },
        userAgentName: this.node.userAgentName,
        userAgentVersion: this.node.userAgentVersion ?? '',
        metadata: this.node.metadata ?? {},
      },
      types,
    };
  }

  protected abstract handleRequest(request: Req): MaybePromise<unknown>;

  /**
   * Builds and sends one type's response. False when the generator failed (the caller stops its push), true
   * otherwise (sent, or nothing to send); a promise of that when it had to wait.
   */
  protected abstract respond(
    state: TypeState,
    push: PushRequest,
    cause: ResponseCause,
  ): MaybePromise<boolean>;

  /**
   * Takes the node from the stream's first request; later requests may omit it. Fails the stream (and returns
   * false) when the first request has none.
   */
  protected identify(node: core.Node | undefined): boolean {
    if (this.identified) return true;
    if (!node || !node.id) {
      this.fail(
        GrpcStatus.INVALID_ARGUMENT,
        'the first request on an xDS stream must carry a node with an id',
      );
      return false;
    }
    this.node = node;
    this.id = this.host.connectionIdFor(node);
    this.identified = true;
    this.host.register(this);
    this.log.info(
      { connection: this.id, node: node.id, userAgent: node.userAgentName || undefined },
      'xDS client connected',
    );
    return true;
  }

  protected stateFor(typeUrl: string): { state: TypeState; first: boolean } {
    const existing = this.types.get(typeUrl);
    if (existing) return { state: existing, first: false };
    const canonical = canonicalTypeUrl(typeUrl);
    const state = new TypeState(canonical, this.host.subscribers, this);
    this.types.set(canonical, state);
    return { state, first: true };
  }

  protected recordAck(state: TypeState, version: string, nonce: string): void {
    state.recordAck(version, nonce);
    // Per ACK, on every connection: skip building the log record unless debug logging is on.
    if (this.log.isLevelEnabled('debug'))
      this.log.debug({ connection: this.id, type: state.typeUrl, version, nonce }, 'ACK');
  }

  protected recordNack(state: TypeState, version: string, nonce: string, detail: rpcStatus.Status): void {
    state.nack = {
      version,
      rejectedVersion: state.sent?.version ?? '',
      nonce,
      code: detail.code,
      message: detail.message,
      at: Date.now(),
    };
    this.host.metrics?.rejected(state.typeUrl);
    this.log.warn(
      {
        connection: this.id,
        type: state.typeUrl,
        version: state.nack.rejectedVersion,
        error: detail.message,
      },
      'NACK: the client rejected a response and keeps its last accepted config',
    );
  }

  /**
   * The type's resources for this connection, restricted to its subscription (and to the names `only` admits,
   * when given) and versioned; undefined when there is no generator for the type or the generator failed (logged,
   * and recorded for the debug view).
   */
  protected generate(
    state: TypeState,
    push: PushRequest,
    only?: (name: string) => boolean,
    /**
     * For a named subscription, the subscribed names to generate (those `only` admits), when the caller has them
     * already; `only` may then be left out.
     */
    admitted?: ReadonlySet<string>,
  ): MaybePromise<VersionedResource[] | undefined> {
    const generator = this.host.generatorFor(state.typeUrl);
    if (!generator) {
      state.generateError = { message: 'no generator serves this type', at: Date.now() };
      this.log.debug({ connection: this.id, type: state.typeUrl }, 'request for a type nothing serves');
      return undefined;
    }
    // Restricted to some names, a named subscription asks the generator for those alone; a wildcard one cannot
    // know the names beforehand, so it keeps the matching part of what the generator returns.
    const subscription = state.subscription;
    let watched: WatchedResources = subscription;
    let keep: Keep = subscription.wildcard ? only : subscription.names;
    if (!subscription.wildcard && (only || admitted)) {
      const names = admitted ?? new Set([...subscription.names].filter(only!));
      if (names.size === 0) return [];
      watched = subscription.restrictedTo(names);
      keep = names;
    }
    let produced: ReturnType<Generator>;
    try {
      produced = generator({ connection: this, watched, push, cache: this.host.cache });
    } catch (err) {
      return this.generateFailed(state, err);
    }
    if (produced instanceof Promise) {
      return produced.then(
        (entries) => this.generated(state, entries, keep),
        (err: unknown) => this.generateFailed(state, err),
      );
    }
    return this.generated(state, produced, keep);
  }

  private generated(
    state: TypeState,
    entries: readonly ResourceEntry[],
    keep: Keep,
  ): VersionedResource[] | undefined {
    try {
      const resources = versioned(entries, keep);
      state.generateError = undefined;
      return resources;
    } catch (err) {
      return this.generateFailed(state, err);
    }
  }

  private generateFailed(state: TypeState, err: unknown): undefined {
    state.generateError = { message: (err as Error)?.message ?? String(err), at: Date.now() };
    this.host.metrics?.internalErrors.inc();
    this.log.error(
      { err, connection: this.id, type: state.typeUrl },
      'generator failed; the connection keeps the config it was last sent',
    );
    return undefined;
  }

  /**
   * Writes a response of `state`'s type, recorded as sent beforehand (`TypeState.recordSent`: its ACK may come
   * before the write drains), and counts it (pilot_xds_pushes, push time, config size) and logs it once written.
   * `detail` adds to the debug log record.
   */
  protected deliver(
    state: TypeState,
    response: Res,
    cause: ResponseCause,
    started: number,
    detail?: Record<string, unknown>,
  ): MaybePromise<true> {
    const draining = this.send(response, state.typeUrl);
    if (draining) return draining.then(() => this.delivered(state, cause, started, detail));
    return this.delivered(state, cause, started, detail);
  }

  private delivered(
    state: TypeState,
    cause: ResponseCause,
    started: number,
    detail: Record<string, unknown> | undefined,
  ): true {
    const { version, nonce, resources, bytes } = state.sent!;
    this.host.metrics?.sent(state.typeUrl, (performance.now() - started) / 1000, bytes);
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug(
        { connection: this.id, type: state.typeUrl, version, nonce, resources, cause, ...detail },
        'sent',
      );
    }
    return true;
  }

  /**
   * Writes one response, waiting for the transport to drain when its buffer is full, so a slow client holds
   * back its own pushes instead of growing memory. A client that does not read for `sendTimeoutMs` is
   * disconnected (it reconnects and resyncs). Undefined when there is nothing to wait for (the usual case: a push
   * writes to thousands of streams, and an async function per write would cost a promise each).
   */
  protected send(response: Res, typeUrl: string): Promise<void> | undefined {
    if (this.closedFlag) return undefined;
    let flushed: boolean;
    try {
      flushed = this.call.write(response);
    } catch (err) {
      this.host.metrics?.sendError(typeUrl);
      this.log.warn({ err, connection: this.id, type: typeUrl }, 'xDS send failed');
      this.close();
      return undefined;
    }
    if (flushed) return undefined;
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.call.off('drain', done);
        this.closeListeners.delete(done);
        resolve();
      };
      this.call.on('drain', done);
      this.closeListeners.add(done);
      if (this.host.sendTimeoutMs > 0) {
        timer = setTimeout(() => {
          this.host.metrics?.sendError(typeUrl);
          this.fail(
            GrpcStatus.DEADLINE_EXCEEDED,
            `client did not read its xDS responses for ${this.host.sendTimeoutMs} ms`,
          );
          done();
        }, this.host.sendTimeoutMs);
        timer.unref();
      }
    });
  }

  private requestHandled(): void {
    if (--this.queuedRequests <= QUEUED_REQUESTS_LOW && this.call.isPaused()) this.call.resume();
  }

  /**
   * Runs tasks of this stream one at a time, in arrival order; a failing task is logged and does not stop later
   * ones. A task that comes while none runs is run at once: undefined when it finished without waiting, else a
   * promise of its end (and of the end of any task queued behind it meanwhile that did not wait).
   */
  protected serialize<A>(task: Task<A>, arg: A): Promise<void> | undefined {
    if (this.busy) {
      return new Promise<void>((done) => this.waiting.push({ task: task as Task<never>, arg, done }));
    }
    const pending = this.run(task, arg);
    if (pending) return pending;
    this.runWaiting();
    return undefined;
  }

  /** Runs one task; when it has to wait, a promise that settles (never rejects) once it and the queue behind it ran. */
  private run<A>(task: Task<A>, arg: A, done?: () => void): Promise<void> | undefined {
    this.busy = true;
    let result: unknown;
    try {
      if (!this.closedFlag) result = task.call(this, arg);
    } catch (err) {
      this.taskFailed(err);
    }
    if (result instanceof Promise) {
      return result
        .then(undefined, (err: unknown) => this.taskFailed(err))
        .then(() => {
          this.busy = false;
          done?.();
          this.runWaiting();
        });
    }
    this.busy = false;
    done?.();
    return undefined;
  }

  /** Runs queued tasks until one has to wait (it carries on with the queue when it is done). */
  private runWaiting(): void {
    while (!this.busy && this.waiting.length > 0) {
      const { task, arg, done } = this.waiting.shift()!;
      this.run(task as Task<unknown>, arg, done);
    }
  }

  private taskFailed(err: unknown): void {
    this.host.metrics?.internalErrors.inc();
    this.log.error({ err, connection: this.id }, 'xDS stream task failed');
  }
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

function safePeer(call: { getPeer(): string }): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}

/** Which generated entries a connection keeps: the names in a set, those a predicate admits, or (undefined) all. */
type Keep = ReadonlySet<string> | ((name: string) => boolean) | undefined;

function keeps(keep: Keep, name: string): boolean {
  if (keep === undefined) return true;
  return typeof keep === 'function' ? keep(name) : keep.has(name);
}

/**
 * Versioned entries made once per entries array, for generators that hand the same array to many connections
 * (pilot builds some outputs once per push): valid for a connection that keeps every entry.
 */
const versionedEntries = new WeakMap<readonly ResourceEntry[], VersionedResource[]>();

/**
 * The entries `keep` admits, versioned (the content hash when the generator gave no version), the last of each
 * name winning. When every entry is kept and the names are distinct, the result is shared by every caller passing
 * the same array: callers must not modify it.
 */
function versioned(entries: readonly ResourceEntry[], keep: Keep): VersionedResource[] {
  let keepsAll = true;
  for (const entry of entries) {
    if (!keeps(keep, entry.name)) {
      keepsAll = false;
      break;
    }
  }
  if (keepsAll) {
    const shared = versionedEntries.get(entries);
    if (shared) return shared;
  }
  const byName = new Map<string, VersionedResource>();
  for (const entry of entries) {
    if (!keepsAll && !keeps(keep, entry.name)) continue;
    byName.set(entry.name, {
      name: entry.name,
      resource: entry.resource,
      version: entry.version ?? contentVersion(entry.resource),
    });
  }
  const out = [...byName.values()];
  if (keepsAll && out.length === entries.length) versionedEntries.set(entries, out);
  return out;
}

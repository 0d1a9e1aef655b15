import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { discovery } from '@flotilla/proto';
import { performance } from 'node:perf_hooks';
import { AdsConnection } from './connection';
import type { ResponseCause, StreamHost, TypeState } from './connection';
import { andThen } from './maybe-async';
import type { MaybePromise } from './maybe-async';
import { pushRequest } from './push-request';
import type { PushRequest } from './push-request';
import type { VersionedResource } from './types';
import { newNonce } from './versions';

type Request = discovery.DeltaDiscoveryRequest;
type Response = discovery.DeltaDiscoveryResponse;

/**
 * One DeltaAggregatedResources stream (incremental xDS).
 *
 * - The server tracks what the client holds (name → version), seeded by initial_resource_versions on the first
 *   request of a type, and sends only resources whose version differs; resources that went away are named in
 *   removed_resources. Versions are content hashes, so a reconnecting client that already holds a resource is
 *   not sent it again.
 * - Subscribing to a name that does not exist answers it in removed_resources, so the client knows at once.
 * - Subscription changes are applied whatever the nonce (they are deltas: dropping one would lose it); the nonce
 *   only decides whether the request ACKs or NACKs (error_detail) the last response.
 * - system_version_info is the version of the set the client should now hold (for debugging only).
 */
export class DeltaConnection extends AdsConnection<Request, Response> {
  constructor(host: StreamHost, call: ServerDuplexStream<Request, Response>) {
    super('delta', host, call);
  }

  protected handleRequest(request: Request): MaybePromise<unknown> {
    if (!this.identify(request.node)) return;
    const typeUrl = request.typeUrl;
    if (!typeUrl) {
      this.fail(
        GrpcStatus.INVALID_ARGUMENT,
        'DeltaDiscoveryRequest.type_url is empty; ADS needs it on every request',
      );
      return;
    }
    const { state, first } = this.stateFor(typeUrl);
    if (!first && request.responseNonce !== '') {
      if (request.responseNonce === state.sent?.nonce) {
        // Delta ACK/NACK carry no version_info; the version is the one sent with the nonce.
        if (request.errorDetail)
          this.recordNack(state, state.sent.version, request.responseNonce, request.errorDetail);
        else this.recordAck(state, state.sent.version, request.responseNonce);
      } else {
        this.host.metrics?.nonceExpired(typeUrl);
      }
    }
    const sub = state.subscription;
    const change = sub.applyDelta(request.resourceNamesSubscribe, request.resourceNamesUnsubscribe, first);
    if (first) {
      for (const [name, version] of Object.entries(request.initialResourceVersions)) {
        if (sub.matches(name)) state.clientVersions.set(name, version);
      }
    }
    // The client drops what it unsubscribed from (and, leaving the wildcard, what only the wildcard gave it);
    // it must not be told about those again in removed_resources.
    for (const name of change.removed) if (!sub.matches(name)) state.clientVersions.delete(name);
    if (change.wildcardRemoved) {
      for (const name of [...state.clientVersions.keys()])
        if (!sub.matches(name)) state.clientVersions.delete(name);
    }
    if (first || change.added.length > 0 || change.wildcardAdded) {
      return this.respondDelta(
        state,
        pushRequest({ full: false, types: [typeUrl], reason: 'request' }),
        'request',
        new Set(change.added),
        first,
      );
    }
    return undefined;
  }

  protected respond(state: TypeState, push: PushRequest, cause: ResponseCause): MaybePromise<boolean> {
    return this.respondDelta(state, push, cause, new Set(), false);
  }

  private respondDelta(
    state: TypeState,
    push: PushRequest,
    cause: ResponseCause,
    newlySubscribed: ReadonlySet<string>,
    force: boolean,
  ): MaybePromise<boolean> {
    if (!state.subscription.active && state.clientVersions.size === 0 && !force) return true;
    const started = this.host.metrics ? performance.now() : 0;
    // A push naming the resources it may change regenerates only those, and can remove only those.
    const filter = cause === 'push' ? push.resources : undefined;
    const only = filter && ((name: string) => filter(this, state.typeUrl, name));
    const generated = state.subscription.active ? this.generate(state, push, only) : [];
    return andThen(generated, (resources) =>
      resources ? this.sendDelta(state, resources, only, cause, newlySubscribed, force, started) : false,
    );
  }

  private sendDelta(
    state: TypeState,
    resources: readonly VersionedResource[],
    only: ((name: string) => boolean) | undefined,
    cause: ResponseCause,
    newlySubscribed: ReadonlySet<string>,
    force: boolean,
    started: number,
  ): MaybePromise<boolean> {
    const desired = new Set(resources.map((r) => r.name));
    const updated = resources.filter((r) => state.clientVersions.get(r.name) !== r.version);
    const removed = [...state.clientVersions.keys()].filter(
      (name) => !desired.has(name) && (!only || only(name) || !state.subscription.matches(name)),
    );
    for (const name of newlySubscribed) {
      if (!desired.has(name) && !state.clientVersions.has(name)) removed.push(name);
    }
    if (updated.length === 0 && removed.length === 0 && !force) return true;
    for (const r of updated) state.clientVersions.set(r.name, r.version);
    for (const name of removed) state.clientVersions.delete(name);
    const version = state.clientVersions.version;
    const nonce = newNonce();
    let bytes = 0;
    for (const r of updated) bytes += r.resource.value.length;
    const response: Response = {
      systemVersionInfo: version,
      resources: updated.map((r) => ({
        name: r.name,
        aliases: [],
        version: r.version,
        resource: r.resource,
      })),
      typeUrl: state.typeUrl,
      removedResources: removed,
      removedResourceNames: [],
      nonce,
      controlPlane: this.host.controlPlane,
    };
    state.recordSent(version, nonce, updated.length, bytes);
    return this.deliver(state, response, cause, started, { removed: removed.length });
  }
}

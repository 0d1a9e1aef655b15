import { performance } from 'node:perf_hooks';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { discovery } from '@flotilla/proto';
import { AdsConnection } from './connection';
import type { ResponseCause, StreamHost, TypeState } from './connection';
import { andThen } from './maybe-async';
import type { MaybePromise } from './maybe-async';
import { pushRequest } from './push-request';
import { encodeOnce } from './response-encoding';
import type { PushRequest, ResourceFilter } from './push-request';
import { isFullStateType } from './type-urls';
import type { VersionedResource } from './types';
import { newNonce, setVersion } from './versions';
import type { VersionMap } from './versions';

type Request = discovery.DiscoveryRequest;
type Response = discovery.DiscoveryResponse;

/**
 * One StreamAggregatedResources stream (state of the world).
 *
 * - A request whose response_nonce is not the last one sent for its type is stale and ignored: a newer response
 *   is on its way and the client will answer that one.
 * - ACK and NACK are told apart only by error_detail (gRFC A46: a NACK may carry the rejected version_info).
 * - The first request for a type on a stream is answered whatever its nonce (a client reconnecting to a new
 *   server sends its old nonce); later requests are answered only when they change the subscription.
 * - Every response carries all the subscribed resources that exist. For Listener and Cluster that is the full
 *   state: a resource left out is removed by the client. For other types leaving one out removes nothing, which
 *   is the protocol (the client unsubscribes when whatever referred to it goes away).
 * - A push that names the resources it may change (a resource filter) sends, for those other types, only the
 *   resources that did change, as Istio's incremental EDS push does; Listener and Cluster always go whole.
 */
export class SotwConnection extends AdsConnection<Request, Response> {
  constructor(host: StreamHost, call: ServerDuplexStream<Request, Response>) {
    super('sotw', host, call);
  }

  protected handleRequest(request: Request): MaybePromise<unknown> {
    if (!this.identify(request.node)) return;
    const typeUrl = request.typeUrl;
    if (!typeUrl) {
      this.fail(
        GrpcStatus.INVALID_ARGUMENT,
        'DiscoveryRequest.type_url is empty; ADS needs it on every request',
      );
      return;
    }
    const { state, first } = this.stateFor(typeUrl);
    if (!first) {
      const expected = state.sent?.nonce ?? '';
      if (request.responseNonce !== expected) {
        this.host.metrics?.nonceExpired(typeUrl);
        this.log.debug(
          { connection: this.id, type: typeUrl, nonce: request.responseNonce, expected },
          'ignoring a request with a stale nonce',
        );
        return;
      }
      if (request.responseNonce !== '') {
        if (request.errorDetail)
          this.recordNack(state, request.versionInfo, request.responseNonce, request.errorDetail);
        else this.recordAck(state, request.versionInfo, request.responseNonce);
      }
    }
    const changed = state.subscription.applySotw(request.resourceNames, first);
    if (first || changed) {
      return this.respond(
        state,
        pushRequest({ full: false, types: [typeUrl], reason: 'request' }),
        'request',
      );
    }
    return undefined;
  }

  protected respond(state: TypeState, push: PushRequest, cause: ResponseCause): MaybePromise<boolean> {
    if (!state.subscription.active) return true;
    const started = this.host.metrics ? performance.now() : 0;
    const filter = push.resources;
    if (
      cause === 'push' &&
      filter !== undefined &&
      state.sent !== undefined &&
      !isFullStateType(state.typeUrl)
    ) {
      // Only the resources the change may have altered, and of those only the ones that did.
      return andThen(this.changedResources(state, push, filter), (resources) => {
        if (!resources) return false;
        if (resources.length === 0) return true;
        return this.sendResponse(
          state,
          this.partialResponse(push, state.typeUrl, resources),
          resources,
          cause,
          started,
        );
      });
    }
    return andThen(this.generate(state, push), (resources) => {
      if (!resources) return false;
      const version = setVersion(resources);
      // A push that changes nothing this client holds sends nothing; a request is always answered.
      if (cause === 'push' && state.sent !== undefined && state.clientVersions.version === version)
        return true;
      state.clientVersions.clear();
      for (const r of resources) state.clientVersions.set(r.name, r.version);
      const response: Response = {
        versionInfo: version,
        resources: resources.map((r) => r.resource),
        canary: false,
        typeUrl: state.typeUrl,
        nonce: newNonce(),
        controlPlane: this.host.controlPlane,
      };
      return this.sendResponse(state, response, resources, cause, started);
    });
  }

  private sendResponse(
    state: TypeState,
    response: Response,
    resources: readonly VersionedResource[],
    cause: ResponseCause,
    started: number,
  ): MaybePromise<boolean> {
    let bytes = 0;
    for (const r of resources) bytes += r.resource.value.length;
    state.recordSent(response.versionInfo, response.nonce, resources.length, bytes);
    return this.deliver(state, response, cause, started);
  }

  /**
   * The response carrying `resources` in a partial push. Connections whose changed resources are the same array
   * (outputs a generator shares within a push, every one of them changed) get one response object, with one nonce
   * (a nonce only has to be unique on its stream) and, as version_info, the version of the resources it carries:
   * it is encoded once however many streams it is written to. Elsewhere version_info is the version of everything
   * the client holds.
   */
  private partialResponse(push: PushRequest, typeUrl: string, resources: VersionedResource[]): Response {
    const known = partialResponses.get(resources);
    if (known && known.push === push && known.response.typeUrl === typeUrl) return known.response;
    const response: Response = {
      versionInfo: setVersion(resources),
      resources: resources.map((r) => r.resource),
      canary: false,
      typeUrl,
      nonce: newNonce(),
      controlPlane: this.host.controlPlane,
    };
    encodeOnce(response);
    partialResponses.set(resources, { push, response });
    return response;
  }

  /**
   * For a push with a resource filter, of a type that is not full state: regenerates the subscribed resources the
   * filter admits and returns those whose version the client does not hold, recording them as held. Admitted
   * resources the generator no longer returns are forgotten (SotW cannot remove them for these types; the client
   * drops them when whatever referred to them goes). Undefined when the generator failed.
   */
  private changedResources(
    state: TypeState,
    push: PushRequest,
    filter: ResourceFilter,
  ): MaybePromise<VersionedResource[] | undefined> {
    const subscription = state.subscription;
    const held = state.clientVersions;
    if (!subscription.wildcard) {
      const admitted = subscription.admittedBy(filter, this);
      if (admitted.size === 0) return [];
      return andThen(this.generate(state, push, undefined, admitted), (regenerated) => {
        if (!regenerated) return undefined;
        if (regenerated.length < admitted.size) {
          const present = new Set(regenerated.map((r) => r.name));
          for (const name of admitted) if (!present.has(name)) held.delete(name);
        }
        return recordChanged(held, regenerated);
      });
    }
    const only = (name: string) => filter(this, state.typeUrl, name);
    return andThen(this.generate(state, push, only), (regenerated) => {
      if (!regenerated) return undefined;
      const present = new Set(regenerated.map((r) => r.name));
      for (const name of [...held.keys()]) if (only(name) && !present.has(name)) held.delete(name);
      return recordChanged(held, regenerated);
    });
  }
}

/** Partial responses by the resources array they carry (see partialResponse). */
const partialResponses = new WeakMap<VersionedResource[], { push: PushRequest; response: Response }>();

/** The changed subsets of a shared resources array, by bitmask of positions (see recordChanged). */
const changedSubsets = new WeakMap<VersionedResource[], Map<number, VersionedResource[]>>();

/**
 * The resources whose version differs from what `held` says the client has, recorded as held from now on. When
 * all of them differ, the very array; when some do, the same array for every caller passing the same `resources`
 * with the same positions changed (up to 31 resources): connections handed a shared array keep sharing, so they
 * can share one response.
 */
function recordChanged(held: VersionMap, resources: VersionedResource[]): VersionedResource[] {
  if (resources.length > 31) {
    const changed = resources.filter((r) => held.get(r.name) !== r.version);
    for (const r of changed) held.set(r.name, r.version);
    return changed.length === resources.length ? resources : changed;
  }
  let mask = 0;
  let changed = 0;
  for (let i = 0; i < resources.length; i++) {
    const r = resources[i];
    if (held.get(r.name) === r.version) continue;
    held.set(r.name, r.version);
    changed++;
    mask |= 1 << i;
  }
  if (changed === resources.length) return resources;
  let subsets = changedSubsets.get(resources);
  if (!subsets) {
    subsets = new Map();
    changedSubsets.set(resources, subsets);
  }
  let subset = subsets.get(mask);
  if (!subset) {
    subset = resources.filter((_, i) => mask & (1 << i));
    subsets.set(mask, subset);
  }
  return subset;
}

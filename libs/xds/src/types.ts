import type { core, protobufAny } from '@flotilla/proto';
import type { EncodedResourceCache } from './resource-cache';
import type { PushRequest } from './push-request';

/** One named resource as a generator returns it: already packed in an Any. */
export interface ResourceEntry {
  name: string;
  resource: protobufAny.Any;
  /** Opaque per-resource version; the content hash of `resource` when omitted. */
  version?: string;
}

/** A resource with its version settled: what the streams send and remember. */
export interface VersionedResource {
  name: string;
  resource: protobufAny.Any;
  version: string;
}

/** What a connection has asked for of one type. */
export interface WatchedResources {
  readonly typeUrl: string;
  /** Everything of the type (an empty first request, or "*"), in addition to `names`. */
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
}

/** A connected client as generators, scopes and debug pages see it. */
export interface ConnectionInfo {
  /** Unique per stream: "<node id>-<n>". */
  readonly id: string;
  readonly protocol: 'sotw' | 'delta';
  /** The node from the first request: id, cluster, metadata, locality, user agent. */
  readonly node: core.Node;
  readonly peer: string;
  readonly connectedAt: Date;
  /** The subscription of one type, if the client has asked for it. */
  watched(typeUrl: string): WatchedResources | undefined;
  /** Type URLs the client currently subscribes to. */
  watchedTypes(): string[];
  /** Whether the client would receive `name` of `typeUrl` (or anything of it, without a name). */
  watches(typeUrl: string, name?: string): boolean;
}

/** Why a generator runs: the push being made, or the client's own request. */
export interface GenerateContext {
  readonly connection: ConnectionInfo;
  readonly watched: WatchedResources;
  readonly push: PushRequest;
  /** Encoded resources shared across connections (see EncodedResourceCache). */
  readonly cache: EncodedResourceCache;
}

/**
 * Builds the resources of one type for one connection. It may return more than the connection subscribes to
 * (the machinery keeps only the subscribed names) and may be async. A throw is logged, and the connection keeps
 * what it was last sent.
 */
export type Generator = (context: GenerateContext) => ResourceEntry[] | Promise<ResourceEntry[]>;

import type { EncodedResourceCache, ResourceEntry } from '@flotilla/xds';
import type { protobufAny } from '@flotilla/proto';
import type { Proxy, PushContext } from './model';

/** What one xDS output of one proxy is built from. */
export interface GenerateRequest {
  proxy: Proxy;
  push: PushContext;
  /** The names the proxy subscribes to; undefined for a wildcard subscription (everything that applies). */
  names: ReadonlySet<string> | undefined;
  /** Shares encodings across proxies with identical inputs; every resource is encoded afresh without it. */
  cache: EncodedResourceCache | undefined;
}

/** The four outputs of a ConfigGenerator, by method name. */
export type GeneratorOutput = 'buildListeners' | 'buildRoutes' | 'buildClusters' | 'buildEndpoints';

/**
 * A generator of the four xDS outputs for one kind of data plane (Istio's XdsResourceGenerator per type, named by
 * concern): proxyless gRPC here, Envoy sidecars and gateways later.
 */
export interface ConfigGenerator {
  readonly name: string;
  /**
   * For outputs that depend on only part of the proxy: a key naming that part (e.g. its namespace), so a push
   * builds such an output once per key and list of names and hands it to every proxy asking the same, instead of
   * once per proxy. Undefined (or no method) when the output depends on the whole proxy.
   */
  sharedBy?(output: GeneratorOutput, proxy: Proxy): string | undefined;
  buildListeners(request: GenerateRequest): ResourceEntry[];
  buildRoutes(request: GenerateRequest): ResourceEntry[];
  buildClusters(request: GenerateRequest): ResourceEntry[];
  buildEndpoints(request: GenerateRequest): ResourceEntry[];
}

/** `build` through the shared cache when there is one, keyed by what the resource was built from. */
export function encoded(
  request: GenerateRequest,
  typeUrl: string,
  name: string,
  key: string,
  build: () => protobufAny.Any,
): protobufAny.Any {
  return request.cache ? request.cache.getOrEncode(typeUrl, name, key, build) : build();
}

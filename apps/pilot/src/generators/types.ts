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

/**
 * A generator of the four xDS outputs for one kind of data plane (Istio's XdsResourceGenerator per type, named by
 * concern): proxyless gRPC here, Envoy sidecars and gateways later.
 */
export interface ConfigGenerator {
  readonly name: string;
  /**
   * Whether buildEndpoints' output for a list of names depends on nothing of the proxy but its namespace (which
   * DestinationRules it sees): then a push builds it once per namespace and list, not once per proxy.
   */
  readonly endpointsByNamespace?: boolean;
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

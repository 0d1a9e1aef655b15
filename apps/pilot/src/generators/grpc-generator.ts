import type { ResourceEntry } from '@flotilla/xds';
import { buildGrpcClusters } from './cluster';
import type { ClusterWarning } from './cluster';
import { buildGrpcEndpoints } from './endpoint';
import { buildGrpcListeners } from './listener';
import { buildGrpcRoutes } from './route';
import type { ConfigGenerator, GenerateRequest } from './types';

/**
 * Istio's GrpcConfigGenerator: xDS for proxyless gRPC clients and servers (node metadata GENERATOR=grpc), which
 * ask for everything by name — listeners by target "<host>:<port>", then the routes, clusters and endpoints those
 * name.
 */
export class GrpcGenerator implements ConfigGenerator {
  readonly name = 'grpc';
  /** ClusterLoadAssignments of proxyless clients: the proxy's namespace picks the DestinationRule's subsets. */
  readonly endpointsByNamespace = true;

  constructor(private readonly warn?: ClusterWarning) {}

  buildListeners(request: GenerateRequest): ResourceEntry[] {
    return buildGrpcListeners(request);
  }

  buildRoutes(request: GenerateRequest): ResourceEntry[] {
    return buildGrpcRoutes(request);
  }

  buildClusters(request: GenerateRequest): ResourceEntry[] {
    return buildGrpcClusters(request, this.warn);
  }

  buildEndpoints(request: GenerateRequest): ResourceEntry[] {
    return buildGrpcEndpoints(request);
  }
}

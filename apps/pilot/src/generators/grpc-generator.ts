import type { ResourceEntry } from '@flotilla/xds';
import { buildGrpcClusters } from './cluster';
import type { ClusterWarning } from './cluster';
import { buildGrpcEndpoints } from './endpoint';
import { buildGrpcListeners } from './listener';
import { buildGrpcRoutes } from './route';
import { labelsKey } from './model';
import type { Proxy } from './model';
import type { ConfigGenerator, GenerateRequest, GeneratorOutput } from './types';

/**
 * Istio's GrpcConfigGenerator: xDS for proxyless gRPC clients and servers (node metadata GENERATOR=grpc), which
 * ask for everything by name — listeners by target "<host>:<port>", then the routes, clusters and endpoints those
 * name.
 */
export class GrpcGenerator implements ConfigGenerator {
  readonly name = 'grpc';
  /**
   * Shared within a push: ClusterLoadAssignments by the proxy's namespace (which DestinationRules, so which
   * subsets, it sees), route configurations by namespace and labels (VirtualServices' sourceLabels).
   */
  sharedBy(output: GeneratorOutput, proxy: Proxy): string | undefined {
    if (output === 'buildEndpoints') return proxy.namespace;
    if (output === 'buildRoutes') return `${proxy.namespace}\0${labelsKey(proxy)}`;
    return undefined;
  }

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

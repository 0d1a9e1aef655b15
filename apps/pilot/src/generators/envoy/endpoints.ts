import type { ResourceEntry } from '@flotilla/xds';
import { buildGrpcEndpoints } from '../endpoint';
import type { GenerateRequest } from '../types';

/**
 * EDS for an Envoy sidecar: a ClusterLoadAssignment per outbound EDS cluster, named by the cluster (its
 * eds_cluster_config service_name), exactly as proxyless gRPC gets them; inbound and special clusters carry their
 * endpoints inline or have none.
 */
export function buildEnvoyEndpoints(request: GenerateRequest): ResourceEntry[] {
  return buildGrpcEndpoints(request);
}

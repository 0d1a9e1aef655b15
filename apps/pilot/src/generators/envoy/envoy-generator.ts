import type { ResourceEntry } from '@flotilla/xds';
import type { ConfigGenerator, GenerateRequest } from '../types';
import { buildEnvoyClusters } from './clusters';
import { DEFAULT_MESH_CONFIG, selectNames } from './common';
import type { MeshConfig } from './common';
import { buildEnvoyEndpoints } from './endpoints';
import { buildInboundListeners } from './inbound-listeners';
import { buildOutboundListeners } from './outbound-listeners';
import { buildEnvoyRoutes } from './routes';

/**
 * Istio's ConfigGeneratorImpl for Envoy sidecars (nodes "sidecar~IP~POD.NS~NS.svc.cluster.local" without
 * GENERATOR=grpc), in the iptables capture model: LDS virtualOutbound, per-port outbound listeners and
 * virtualInbound; RDS per outbound HTTP port; CDS outbound, inbound and special clusters; EDS per outbound cluster.
 */
export class EnvoyGenerator implements ConfigGenerator {
  readonly name = 'envoy';

  constructor(private readonly mesh: MeshConfig = DEFAULT_MESH_CONFIG) {}

  buildListeners(request: GenerateRequest): ResourceEntry[] {
    return selectNames(
      [...buildOutboundListeners(request, this.mesh), ...buildInboundListeners(request, this.mesh)],
      request.names,
    );
  }

  buildRoutes(request: GenerateRequest): ResourceEntry[] {
    return buildEnvoyRoutes(request, this.mesh);
  }

  buildClusters(request: GenerateRequest): ResourceEntry[] {
    return buildEnvoyClusters(request, this.mesh);
  }

  buildEndpoints(request: GenerateRequest): ResourceEntry[] {
    return buildEnvoyEndpoints(request);
  }
}

import type { ResourceEntry } from '@flotilla/xds';
import type { ConfigGenerator, GenerateRequest } from '../types';
import { buildEnvoyClusters } from './clusters';
import { DEFAULT_MESH_CONFIG, outboundKey, selectNames } from './common';
import type { MeshConfig } from './common';
import { buildEnvoyEndpoints } from './endpoints';
import { buildExtAuthzClusters } from './ext-authz-cluster';
import { buildInboundListeners } from './inbound-listeners';
import { buildOutboundListeners } from './outbound-listeners';
import { buildGatewayListeners } from './gateway-listeners';
import { buildGatewayRoutes } from './gateway-routes';
import { buildEnvoyRoutes } from './routes';
import { meshConfigFor } from './sidecar-scope';

/**
 * Istio's ConfigGeneratorImpl for Envoy (nodes without GENERATOR=grpc). Sidecars ("sidecar~IP~POD.NS~NS.svc…"),
 * in the iptables capture model: LDS virtualOutbound, per-port outbound listeners and virtualInbound; RDS per
 * outbound HTTP port; CDS outbound, inbound and special clusters; EDS per outbound cluster. Gateways
 * ("router~…"): LDS and RDS from the Gateway resources selecting them and the VirtualServices bound to those;
 * CDS and EDS as a sidecar's outbound side.
 */
export class EnvoyGenerator implements ConfigGenerator {
  readonly name = 'envoy';

  constructor(private readonly mesh: MeshConfig = DEFAULT_MESH_CONFIG) {}

  buildListeners(request: GenerateRequest): ResourceEntry[] {
    if (isGateway(request))
      return selectNames(buildGatewayListeners(request, this.gatewayKey(request)), request.names);
    const mesh = this.meshFor(request);
    return selectNames(
      [...buildOutboundListeners(request, mesh), ...buildInboundListeners(request, mesh)],
      request.names,
    );
  }

  buildRoutes(request: GenerateRequest): ResourceEntry[] {
    if (isGateway(request)) return buildGatewayRoutes(request, this.gatewayKey(request));
    return buildEnvoyRoutes(request, this.meshFor(request));
  }

  buildClusters(request: GenerateRequest): ResourceEntry[] {
    const mesh = this.meshFor(request);
    return [...buildEnvoyClusters(request, mesh), ...buildExtAuthzClusters(request, mesh)];
  }

  /** The mesh config as this proxy's Sidecar resource amends it (outboundTrafficPolicy). */
  private meshFor(request: GenerateRequest): MeshConfig {
    return meshConfigFor(request.push, request.proxy, this.mesh);
  }

  buildEndpoints(request: GenerateRequest): ResourceEntry[] {
    return buildEnvoyEndpoints(request);
  }

  /** What a gateway's listeners and routes are built from: the push, its namespace and its labels (selectors). */
  private gatewayKey(request: GenerateRequest): string {
    return `gateway|${outboundKey(request.push, request.proxy, this.mesh)}|${JSON.stringify(request.proxy.labels)}`;
  }
}

function isGateway(request: GenerateRequest): boolean {
  return request.proxy.type === 'router';
}

import { cluster, http2ProtocolOptions, packAny } from '@flotilla/proto';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import { extAuthzCluster } from './authz';
import { DEFAULT_CONNECT_TIMEOUT, selectNames, socketAddress } from './common';
import type { MeshConfig } from './common';

/**
 * CDS for the ext_authz providers of MeshConfig whose service the registry does not know (mixer outside the
 * mesh, as in docker-compose): a STRICT_DNS cluster over HTTP/2 named as the outbound cluster would be, so the
 * ext_authz filter names one cluster either way. A provider whose service is in the registry already has its
 * outbound cluster.
 */
export function buildExtAuthzClusters(request: GenerateRequest, mesh: MeshConfig): ResourceEntry[] {
  const out: ResourceEntry[] = [];
  for (const provider of mesh.extensionProviders ?? []) {
    const grpc = provider.envoyExtAuthzGrpc;
    if (!grpc || request.push.service(grpc.service)) continue;
    const name = extAuthzCluster(grpc);
    const resource = encoded(
      request,
      TypeUrl.Cluster,
      name,
      `envoy-ext-authz|${grpc.service}:${grpc.port}`,
      () =>
        packAny(
          cluster.Cluster,
          cluster.Cluster.fromPartial({
            name,
            type: cluster.Cluster_DiscoveryType.STRICT_DNS,
            connectTimeout: DEFAULT_CONNECT_TIMEOUT,
            loadAssignment: {
              clusterName: name,
              endpoints: [
                { lbEndpoints: [{ endpoint: { address: socketAddress(grpc.service, grpc.port) } }] },
              ],
            },
            typedExtensionProtocolOptions: http2ProtocolOptions(),
          }),
        ),
    );
    out.push({ name, resource });
  }
  return selectNames(out, request.names);
}

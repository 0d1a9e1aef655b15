// MeshNetworks naming service registries that do not exist (Istio's multicluster.MeshNetworksAnalyzer, IST0126).
// The registries are Istio's built-in providers plus one per cluster in each remote secret (istio/multiCluster=true).
import type { Resource } from '../../model';
import { list, obj, str } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { labelsOf } from '../context';
import { Messages } from '../messages';

/** Istio's built-in service registry providers (pilot's provider.ID values). */
const BUILT_IN_REGISTRIES = ['Mock', 'Kubernetes', 'External'];

/**
 * A stand-in resource for the mesh networks, so messages name it as istioctl does. It points at the `istio`
 * ConfigMap when the networks were read from there.
 */
function meshNetworksResource(ctx: AnalysisContext): { resource: Resource; path?: string } {
  const configMap = ctx.find('ConfigMap', 'istio-system', 'istio');
  const fromConfigMap = typeof obj(configMap?.object.data)?.meshNetworks === 'string';
  const resource: Resource = {
    apiVersion: 'v1alpha1',
    group: '',
    version: 'v1alpha1',
    kind: 'MeshNetworks',
    name: 'meshnetworks',
    namespace: 'istio-system',
    object: ctx.meshNetworks,
    source:
      configMap && fromConfigMap
        ? configMap.source
        : { file: '(mesh networks)', index: 0, text: '', lineOffset: 0 },
  };
  return { resource, path: configMap && fromConfigMap ? 'data.meshNetworks' : undefined };
}

export const meshNetworksAnalyzer: Analyzer = {
  name: 'multicluster.MeshNetworksAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const networks = obj(ctx.meshNetworks.networks);
    if (!networks) return;
    const registries = new Set(BUILT_IN_REGISTRIES);
    for (const secret of ctx.all('Secret')) {
      if (labelsOf(secret)['istio/multiCluster'] !== 'true') continue;
      // Each key is a cluster's kubeconfig; the API server moves `stringData` keys into `data` on apply.
      for (const field of ['data', 'stringData']) {
        for (const cluster of Object.keys(obj(secret.object[field]) ?? {})) registries.add(cluster);
      }
    }
    const { resource, path } = meshNetworksResource(ctx);
    for (const [network, n] of Object.entries(networks)) {
      for (const e of list(obj(n)?.endpoints)) {
        const endpoint = obj(e) ?? {};
        if (endpoint.fromRegistry === undefined) continue;
        const registry = str(endpoint.fromRegistry);
        if (registries.has(registry)) continue;
        ctx.report(
          Messages.UnknownMeshNetworksServiceRegistry,
          resource,
          `Unknown service registry ${registry} in network ${network}`,
          path,
        );
      }
    }
  },
};

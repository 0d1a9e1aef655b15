import { parseText } from '../../parse';
import { createRegistry } from '../../registry';
import { analyzeResources } from '../analyze';

const registry = createRegistry();

function messages(yaml: string, meshNetworks?: Record<string, unknown>): string[] {
  return analyzeResources(parseText(yaml, 'a.yaml').resources, { registry, meshNetworks, addDefaults: false })
    .filter((m) => m.code === 'IST0126')
    .map((m) => `${m.origin}: ${m.message}`);
}

const networks = {
  networks: {
    n1: { endpoints: [{ fromRegistry: 'Kubernetes' }, { fromCidr: '10.0.0.0/8' }] },
    n2: { endpoints: [{ fromRegistry: 'remote-a' }, { fromRegistry: 'unknown' }] },
  },
};
const remoteSecret =
  'apiVersion: v1\nkind: Secret\nmetadata: {name: istio-remote-secret-a, namespace: istio-system, labels: {istio/multiCluster: "true"}}\ndata: {remote-a: YQ==}\n---\n';

describe('multicluster.MeshNetworksAnalyzer', () => {
  it('reports registries that are neither built in nor a remote cluster (IST0126)', () => {
    expect(messages(remoteSecret, networks)).toEqual([
      'MeshNetworks istio-system/meshnetworks: Unknown service registry unknown in network n2',
    ]);
    expect(messages('', networks)).toEqual([
      'MeshNetworks istio-system/meshnetworks: Unknown service registry remote-a in network n2',
      'MeshNetworks istio-system/meshnetworks: Unknown service registry unknown in network n2',
    ]);
  });

  it('counts clusters given as stringData, as the API server stores them as data', () => {
    const secret = remoteSecret.replace('data: {remote-a: YQ==}', 'stringData: {remote-a: kubeconfig}');
    expect(messages(secret, networks)).toEqual([
      'MeshNetworks istio-system/meshnetworks: Unknown service registry unknown in network n2',
    ]);
  });

  it('reads mesh networks from the istio ConfigMap when none are given', () => {
    const configMap =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  meshNetworks: |\n    networks:\n      n1:\n        endpoints:\n        - fromRegistry: nowhere\n';
    expect(messages(configMap)).toEqual([
      'MeshNetworks istio-system/meshnetworks: Unknown service registry nowhere in network n1',
    ]);
  });
});

import { parseText } from '../../parse';
import { createRegistry } from '../../registry';
import { analyzeResources } from '../analyze';

const registry = createRegistry();

function messages(name: string, bundleVersion: string): string[] {
  const crd = `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ${name}, annotations: {gateway.networking.k8s.io/bundle-version: "${bundleVersion}"}}\nspec: {group: gateway.networking.k8s.io}\n`;
  return analyzeResources(parseText(crd, 'a.yaml').resources, { registry, addDefaults: false })
    .filter((m) => m.code === 'IST0176')
    .map((m) => m.message);
}

describe('k8sgateway.CRDVersionAnalyzer', () => {
  it('reports Gateway API CRDs below the version Istio requires (IST0176)', () => {
    expect(messages('tcproutes.gateway.networking.k8s.io', 'v1.5.2')).toEqual([
      'Gateway API CRD "tcproutes.gateway.networking.k8s.io" is at version "1.5.2" but Istio requires at least "1.6.0"; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.',
    ]);
  });

  it('accepts the minimum, its pre-releases, newer versions and CRDs without a minimum', () => {
    expect(messages('tcproutes.gateway.networking.k8s.io', 'v1.5.9')).toHaveLength(1);
    expect(messages('tcproutes.gateway.networking.k8s.io', 'v1.6.0')).toEqual([]);
    expect(messages('tcproutes.gateway.networking.k8s.io', 'v1.6.0-rc.1')).toEqual([]);
    expect(messages('grpcroutes.gateway.networking.k8s.io', '2.0')).toEqual([]);
    expect(messages('httproutes.gateway.networking.k8s.io', 'v0.1.0')).toEqual([]);
  });
});

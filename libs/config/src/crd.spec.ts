import { customResourceDefinition, customResourceDefinitions } from './crd';
import { createRegistry } from './registry';

describe('CRD generation', () => {
  const registry = createRegistry();

  it('renders one apiextensions.k8s.io/v1 CRD per kind with every served version', () => {
    const crds = customResourceDefinitions(registry);
    expect(crds).toHaveLength(registry.all().length);
    const vs = crds.find(
      (c) => (c.metadata as { name: string }).name === 'virtualservices.networking.istio.io',
    )!;
    const spec = vs.spec as { versions: { name: string; storage: boolean }[]; names: { kind: string } };
    expect(spec.names.kind).toBe('VirtualService');
    expect(spec.versions.map((v) => [v.name, v.storage])).toEqual([
      ['v1', true],
      ['v1alpha3', false],
      ['v1beta1', false],
    ]);
  });

  it('carries required fields, enums and CEL rules into the OpenAPI schema', () => {
    const se = customResourceDefinition(registry.get('networking.istio.io', 'ServiceEntry')!);
    const schema = (se.spec as { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] })
      .versions[0].schema.openAPIV3Schema;
    expect(schema.required).toEqual(['spec']);
    const spec = (schema.properties as Record<string, Record<string, unknown>>).spec;
    expect(spec.required).toEqual(['hosts']);
    expect(JSON.stringify(spec['x-kubernetes-validations'])).toContain('NONE mode cannot set endpoints');
  });
});

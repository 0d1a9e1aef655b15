import { loadAll } from 'js-yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { crdsYaml } from './crds';

describe('flotilla crds', () => {
  const docs = loadAll(crdsYaml()) as {
    metadata: { name: string };
    spec: { versions: { name: string; storage: boolean }[] };
  }[];

  it('prints one CustomResourceDefinition per Istio kind, each valid against the Kubernetes schema', () => {
    expect(docs.length).toBeGreaterThanOrEqual(16);
    for (const doc of docs) new CustomResourceDefinition(doc as never).validate();
    const names = docs.map((d) => d.metadata.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'virtualservices.networking.istio.io',
        'authorizationpolicies.security.istio.io',
        'rules.config.istio.io',
      ]),
    );
  });

  it('marks exactly one storage version per CRD', () => {
    for (const doc of docs) expect(doc.spec.versions.filter((v) => v.storage)).toHaveLength(1);
  });
});

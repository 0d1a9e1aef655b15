import { parseText } from '../../parse';
import { createRegistry } from '../../registry';
import { analyzeResources } from '../analyze';

const registry = createRegistry();

function messages(yaml: string): string[] {
  return analyzeResources(parseText(yaml, 'a.yaml').resources, { registry, addDefaults: false })
    .filter((m) => m.code === 'IST0127' || m.code === 'IST0101')
    .map((m) => `${m.code} ${m.origin}: ${m.message}`);
}

const policy = (name: string, ns: string, spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n---\n`;
const pod = (name: string, ns: string, extra = ''): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${ns}, labels: {app: web}${extra}}\nspec: {containers: [{name: app}]}\n---\n`;
const NAMESPACES =
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: web, labels: {istio-injection: enabled}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: plain}\n---\n';

describe('auth.AuthorizationPoliciesAnalyzer', () => {
  it('only counts pods in the mesh or in ambient mode as matching workloads (IST0127)', () => {
    const yaml =
      NAMESPACES +
      pod('w', 'web') +
      pod('p', 'plain') +
      pod('a', 'amb', ', annotations: {ambient.istio.io/redirection: enabled}') +
      policy('in-mesh', 'web', '{selector: {matchLabels: {app: web}}}') +
      policy('outside', 'plain', '{selector: {matchLabels: {app: web}}}') +
      policy('ambient', 'amb', '{selector: {matchLabels: {app: web}}}');
    expect(messages(yaml)).toEqual([
      'IST0127 AuthorizationPolicy plain/outside: No matching workloads for this resource with the following labels: app=web',
    ]);
  });

  it('reports namespace-wide policies in namespaces without workloads, but not mesh-wide ones', () => {
    const yaml = NAMESPACES + policy('empty', 'web', '{}') + policy('mesh', 'istio-system', '{}');
    expect(messages(yaml)).toEqual([
      'IST0127 AuthorizationPolicy web/empty: No matching workloads for this resource with the following labels: ',
    ]);
  });

  it('checks namespaces and notNamespaces patterns against the namespaces that exist (IST0101)', () => {
    const yaml =
      NAMESPACES +
      pod('w', 'web') +
      policy(
        'ns',
        'web',
        '{rules: [{from: [{source: {namespaces: ["we*", "*ain", "*", "gone"], notNamespaces: ["x-*"]}}]}]}',
      );
    expect(messages(yaml)).toEqual([
      'IST0101 AuthorizationPolicy web/ns: Referenced namespace not found: "gone"',
      'IST0101 AuthorizationPolicy web/ns: Referenced namespace not found: "x-*"',
    ]);
  });
});

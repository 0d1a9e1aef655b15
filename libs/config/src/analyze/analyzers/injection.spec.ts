import { parseText } from '../../parse';
import { createRegistry } from '../../registry';
import { analyzeResources } from '../analyze';

const registry = createRegistry();

function messages(yaml: string, codes: string[], meshConfig = {}): string[] {
  return analyzeResources(parseText(yaml, 'a.yaml').resources, { registry, meshConfig, addDefaults: false })
    .filter((m) => codes.includes(m.code))
    .map((m) => `${m.code} ${m.origin}`);
}

const namespace = (name: string, labels = '{}'): string =>
  `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}, labels: ${labels}}\n---\n`;
const pod = (name: string, ns: string, containers: string, metadata = ''): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${ns}${metadata}}\nspec: {containers: ${containers}}\n---\n`;
const injectorConfigMap = (name: string, values: object): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: istio-system}\ndata: {values: '${JSON.stringify(values)}'}\n---\n`;

describe('injection.Analyzer', () => {
  it('reports namespaces without an injection label (IST0102), skipping istio-system and ambient ones', () => {
    const yaml =
      namespace('plain') +
      namespace('istio-system') +
      namespace('amb', '{istio.io/dataplane-mode: ambient}') +
      namespace('rev', '{istio.io/rev: canary}') +
      namespace('off', '{istio-injection: disabled}');
    expect(messages(yaml, ['IST0102', 'IST0148'])).toEqual(['IST0102 Namespace plain']);
  });

  it('reports IST0148 instead when the injector enables namespaces by default', () => {
    const yaml =
      namespace('plain') +
      injectorConfigMap('istio-sidecar-injector', {
        sidecarInjectorWebhook: { enableNamespacesByDefault: true },
      });
    expect(messages(yaml, ['IST0102', 'IST0148'])).toEqual(['IST0148 Namespace plain']);
  });

  it('reports namespaces with conflicting injection labels (IST0123), unless istio-injection disables it', () => {
    const yaml =
      namespace('both', '{istio-injection: enabled, istio.io/rev: canary}') +
      namespace('revamb', '{istio.io/rev: canary, istio.io/dataplane-mode: ambient}') +
      namespace('disabled', '{istio-injection: disabled, istio.io/rev: canary}');
    expect(messages(yaml, ['IST0123'])).toEqual(['IST0123 Namespace both', 'IST0123 Namespace revamb']);
  });

  it('reports pods without a proxy in injected namespaces (IST0103), except opted-out and host-network pods', () => {
    const yaml =
      namespace('mesh', '{istio-injection: enabled}') +
      pod('bare', 'mesh', '[{name: app}]') +
      pod('injected', 'mesh', '[{name: app}, {name: istio-proxy, image: proxyv2}]') +
      pod('optout', 'mesh', '[{name: app}]', ', labels: {sidecar.istio.io/inject: "false"}') +
      `apiVersion: v1\nkind: Pod\nmetadata: {name: host, namespace: mesh}\nspec: {hostNetwork: true, containers: [{name: app}]}\n---\n` +
      pod('elsewhere', 'default', '[{name: app}]');
    expect(messages(yaml, ['IST0103'])).toEqual(['IST0103 Pod mesh/bare']);
  });
});

describe('injection.ImageAnalyzer', () => {
  const values = { global: { hub: 'docker.io/istio', tag: '1.20.0', proxy: { image: 'proxyv2' } } };

  it('reports namespaces whose pods run another proxy image than the injector injects (IST0158)', () => {
    const yaml =
      injectorConfigMap('istio-sidecar-injector', values) +
      namespace('a', '{istio-injection: enabled}') +
      namespace('b', '{istio-injection: enabled}') +
      pod('old', 'a', '[{name: istio-proxy, image: "docker.io/istio/proxyv2:1.19.0"}]') +
      pod('new', 'b', '[{name: istio-proxy, image: "docker.io/istio/proxyv2:1.20.0"}]') +
      pod(
        'custom',
        'a',
        '[{name: istio-proxy, image: "mine"}]',
        ', annotations: {sidecar.istio.io/proxyImage: mine}',
      );
    expect(messages(yaml, ['IST0158'])).toEqual(['IST0158 Namespace a']);
  });

  it('accepts the image variant the mesh config selects', () => {
    const yaml =
      injectorConfigMap('istio-sidecar-injector', values) +
      namespace('a', '{istio-injection: enabled}') +
      pod('p', 'a', '[{name: istio-proxy, image: "docker.io/istio/proxyv2:1.20.0-distroless"}]');
    expect(messages(yaml, ['IST0158'])).toEqual(['IST0158 Namespace a']);
    expect(messages(yaml, ['IST0158'], { defaultConfig: { image: { imageType: 'distroless' } } })).toEqual(
      [],
    );
  });

  it('compares revisioned namespaces with their revision injector', () => {
    const yaml =
      injectorConfigMap('istio-sidecar-injector-canary', values) +
      namespace('c', '{istio.io/rev: canary}') +
      pod('p', 'c', '[{name: istio-proxy, image: "docker.io/istio/proxyv2:1.21.0"}]');
    expect(messages(yaml, ['IST0158'])).toEqual(['IST0158 Namespace c']);
  });
});

describe('injection.ImageAutoAnalyzer', () => {
  const webhook =
    'apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: inj}\nwebhooks: [{name: namespace.sidecar-injector.istio.io, namespaceSelector: {matchLabels: {istio-injection: enabled}}}]\n---\n';
  const deployment = (name: string, ns: string): string =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {template: {metadata: {labels: {app: gw}}, spec: {containers: [{name: istio-proxy, image: auto}]}}}\n---\n`;

  it('errors on pods still carrying image: auto (IST0147)', () => {
    expect(messages(pod('p', 'default', '[{name: istio-proxy, image: auto}]'), ['IST0147'])).toEqual([
      'IST0147 Pod default/p',
    ]);
  });

  it('warns about deployments with image: auto that no Istio webhook selects (IST0146)', () => {
    const yaml =
      webhook +
      namespace('on', '{istio-injection: enabled}') +
      namespace('off') +
      deployment('a', 'on') +
      deployment('b', 'off');
    expect(messages(yaml, ['IST0146'])).toEqual(['IST0146 Deployment off/b']);
  });
});

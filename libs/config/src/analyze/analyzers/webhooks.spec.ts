import { parseText } from '../../parse';
import { createRegistry } from '../../registry';
import { analyzeResources } from '../analyze';

const registry = createRegistry();

function messages(yaml: string, codes: string[]): string[] {
  return analyzeResources(parseText(yaml, 'a.yaml').resources, { registry, addDefaults: false })
    .filter((m) => codes.includes(m.code))
    .map((m) => `${m.code} ${m.origin}: ${m.message}`);
}

const mutating = (name: string, webhooks: string): string =>
  `apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: ${name}}\nwebhooks: ${webhooks}\n---\n`;
const ISTIOD =
  'apiVersion: v1\nkind: Service\nmetadata: {name: istiod, namespace: istio-system}\nspec: {}\n---\n';
const hook = (name: string, selector: string, service = 'istiod'): string =>
  `{name: ${name}, clientConfig: {service: {name: ${service}, namespace: istio-system}}, namespaceSelector: ${selector}}`;

describe('webhook.Analyzer', () => {
  it('reports injection webhooks that would inject the same pods twice (IST0139), once per webhook', () => {
    const yaml =
      ISTIOD +
      mutating('one', `[${hook('a.istio.io', '{matchLabels: {istio-injection: enabled}}')}]`) +
      mutating('two', `[${hook('b.istio.io', '{matchLabels: {istio-injection: enabled}}')}]`);
    expect(messages(yaml, ['IST0139'])).toEqual([
      'IST0139 MutatingWebhookConfiguration one: Webhook overlaps with others: [two/b.istio.io]. This may cause injection to occur twice.',
      'IST0139 MutatingWebhookConfiguration two: Webhook overlaps with others: [one/a.istio.io]. This may cause injection to occur twice.',
    ]);
  });

  it('accepts webhooks whose selectors exclude each other', () => {
    const yaml =
      ISTIOD +
      mutating(
        'inj',
        `[${hook('a.istio.io', '{matchLabels: {istio-injection: enabled}}')}, ${hook('b.istio.io', '{matchExpressions: [{key: istio-injection, operator: DoesNotExist}]}')}]`,
      );
    expect(messages(yaml, ['IST0139'])).toEqual([]);
    const overlapping = yaml.replace('operator: DoesNotExist', 'operator: Exists');
    expect(messages(overlapping, ['IST0139'])).toHaveLength(2);
  });

  it('reports injection webhooks pointing at a Service that does not exist', () => {
    const yaml = mutating(
      'inj',
      `[${hook('a.istio.io', '{matchLabels: {istio-injection: enabled}}', 'gone')}]`,
    );
    expect(messages(yaml, ['IST0139'])).toEqual([
      'IST0139 MutatingWebhookConfiguration inj: Injector refers to a control plane service that does not exist: istio-system/gone.',
    ]);
  });

  it('leaves webhooks that are not Istio’s alone', () => {
    const yaml =
      mutating('other', '[{name: x.example.com, clientConfig: {service: {name: nope, namespace: x}}}]') +
      mutating('istio', '[{name: y.istio.io, clientConfig: {service: {name: nope, namespace: x}}}]');
    expect(messages(yaml, ['IST0139'])).toEqual([
      'IST0139 MutatingWebhookConfiguration istio: Injector refers to a control plane service that does not exist: x/nope.',
    ]);
  });
});

describe('externalcontrolplane.ExternalControlPlaneAnalyzer', () => {
  const validating = (name: string, clientConfig: string): string =>
    `apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: ${name}}\nwebhooks: [{name: v.istio.io, clientConfig: ${clientConfig}}]\n---\n`;

  it('reports Istio webhooks with neither a URL nor a Service (IST0163)', () => {
    expect(messages(validating('istio-validator-remote', '{url: null}'), ['IST0163'])).toEqual([
      'IST0163 ValidatingWebhookConfiguration istio-validator-remote: The hostname () that was provided for the webhook (v.istio.io) to reach the ingress gateway on the external control plane cluster is blank. Traffic may not flow properly.',
    ]);
  });

  it('reports webhook URLs that use an IP address (IST0164) and accepts host names', () => {
    const yaml =
      validating('istiod-default-validator', '{url: "https://10.0.0.1:15017/validate"}') +
      validating('istio-validator-x', '{url: "https://istiod.example.com:15017/validate"}');
    expect(messages(yaml, ['IST0163', 'IST0164'])).toEqual([
      'IST0164 ValidatingWebhookConfiguration istiod-default-validator: The address (https://10.0.0.1:15017/validate) that was provided for the webhook (v.istio.io) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.',
    ]);
  });

  it('only checks Istio’s own webhook configurations', () => {
    const yaml = validating('someone-else', '{}') + validating('istio-validator-x', '{}');
    expect(messages(yaml, ['IST0163', 'IST0164']).map((m) => m.split(':')[0])).toEqual([
      'IST0163 ValidatingWebhookConfiguration istio-validator-x',
    ]);
  });
});

import { parseText } from '../../parse';
import { createRegistry } from '../../registry';
import { analyzeResources } from '../analyze';

const registry = createRegistry();

function messages(yaml: string): string[] {
  return analyzeResources(parseText(yaml, 'a.yaml').resources, { registry, addDefaults: false })
    .filter((m) => m.code === 'IST0116' || m.code === 'IST0137')
    .map((m) => `${m.code} ${m.origin}: ${m.message}`);
}

const NS =
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n---\n';
const deployment = (name: string, labels: string, ns = 'shop'): string =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {template: {metadata: {labels: ${labels}}, spec: {containers: [{name: app}]}}}\n---\n`;
const service = (name: string, ports: string, ns = 'shop'): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {selector: {app: cart}, ports: ${ports}}\n---\n`;

describe('deployment.ServiceAssociationAnalyzer', () => {
  it('reports one port served with different protocols by several Services (IST0116)', () => {
    const yaml =
      NS +
      deployment('cart', '{app: cart}') +
      service('cart-tcp', '[{port: 80, name: tcp}]') +
      service('cart-udp', '[{port: 80, name: udp, protocol: UDP}]');
    expect(messages(yaml)).toEqual([
      'IST0116 Deployment shop/cart: This deployment cart is associated with multiple services using port 80 but different protocols: [shop/cart-tcp shop/cart-udp]',
    ]);
  });

  it('reports one target port reached through different Service ports (IST0137)', () => {
    const yaml =
      NS +
      deployment('cart', '{app: cart}') +
      service('a', '[{port: 80, name: http, targetPort: 8080}]') +
      service('b', '[{port: 81, name: http, targetPort: 8080}]');
    expect(messages(yaml)).toEqual([
      'IST0137 Deployment shop/cart: This deployment cart is associated with multiple services [shop/a shop/b] using targetPort "8080" but different ports: [80 81].',
    ]);
  });

  it('ignores deployments outside the mesh and Services in other namespaces', () => {
    const conflicting =
      service('a', '[{port: 80, name: tcp}]') + service('b', '[{port: 80, name: udp, protocol: UDP}]');
    expect(messages(NS + deployment('cart', '{app: cart}') + conflicting)).toHaveLength(1);
    expect(messages(deployment('cart', '{app: cart}') + conflicting)).toEqual([]);
    expect(
      messages(NS + deployment('cart', '{app: cart, sidecar.istio.io/inject: "false"}') + conflicting),
    ).toEqual([]);
    const other =
      service('a', '[{port: 80, name: tcp}]', 'other') +
      service('b', '[{port: 80, name: udp, protocol: UDP}]', 'other');
    expect(messages(NS + deployment('cart', '{app: cart}') + other)).toEqual([]);
  });
});

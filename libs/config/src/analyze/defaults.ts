// Resources a files-only analysis assumes exist, as `istioctl analyze` does: the default ingress gateway pod and
// Service in the Istio namespace (unless the mesh config turns ingress off).
import type { Resource } from '../model';
import { parseText } from '../parse';
import type { Obj } from '../schema/types';

export function defaultResources(meshConfig: Obj, istioNamespace = 'istio-system'): Resource[] {
  if (meshConfig.ingressControllerMode === 'OFF') return [];
  const service =
    typeof meshConfig.ingressService === 'string' && meshConfig.ingressService !== ''
      ? meshConfig.ingressService
      : 'istio-ingressgateway';
  const port = (name: string, n: number): Obj => ({ name, port: n, targetPort: n, protocol: 'TCP' });
  const docs = [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${service}-dummypod`,
        namespace: istioNamespace,
        labels: { istio: 'ingressgateway' },
      },
      spec: { containers: [{ name: 'istio-proxy' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service, namespace: istioNamespace },
      spec: {
        selector: { istio: 'ingressgateway' },
        ports: [port('http2', 80), port('https', 443), port('tcp', 31400), port('tls', 15443)],
      },
    },
  ];
  return parseText(JSON.stringify(docs), '<defaults>').resources;
}

import { parseText } from '../../parse';
import { createRegistry } from '../../registry';
import { analyzeResources } from '../analyze';

const registry = createRegistry();

/** `code origin: message` of every annotation message (IST0107/0108/0125/0135/0136) for the YAML. */
function annotationMessages(yaml: string): string[] {
  const codes = new Set(['IST0107', 'IST0108', 'IST0125', 'IST0135', 'IST0136']);
  return analyzeResources(parseText(yaml, 'a.yaml').resources, { registry, addDefaults: false })
    .filter((m) => codes.has(m.code))
    .map((m) => `${m.code} ${m.origin}: ${m.message}`);
}

const pod = (annotations: string, extra = ''): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {${annotations}}${extra}}\nspec: {containers: [{name: app}], initContainers: [{name: istio-init}]}\n`;

describe('annotations.K8sAnalyzer', () => {
  it('reports istio.io annotations Istio does not define (IST0108) and ignores other prefixes', () => {
    const svc =
      'apiVersion: v1\nkind: Service\nmetadata: {name: s, annotations: {networking.istio.io/exportToo: x, example.com/whatever: y}}\nspec: {ports: [{port: 80, name: http}]}\n';
    expect(annotationMessages(svc)).toEqual([
      'IST0108 Service default/s: Unknown annotation: networking.istio.io/exportToo',
    ]);
  });

  it('reports annotations on a kind they do not apply to (IST0107)', () => {
    const ns =
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: n, annotations: {sidecar.istio.io/proxyCPU: 100m}}\n';
    expect(annotationMessages(ns).filter((m) => m.startsWith('IST0107'))).toEqual([
      'IST0107 Namespace n: Misplaced annotation: sidecar.istio.io/proxyCPU can only be applied to Pod',
    ]);
  });

  it('checks values the sidecar injector validates (IST0125)', () => {
    const out = annotationMessages(
      pod(
        '"readiness.status.sidecar.istio.io/periodSeconds": "x", "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/8,nope", "traffic.sidecar.istio.io/excludeInboundPorts": "80,70000", "sidecar.istio.io/proxyMemory": "1Gx", "prometheus.istio.io/merge-metrics": "yes", "sidecar.istio.io/interceptionMode": "TPROXY"',
      ),
    ).filter((m) => m.startsWith('IST0125'));
    expect(out).toEqual([
      'IST0125 Pod default/p: Invalid annotation readiness.status.sidecar.istio.io/periodSeconds: strconv.ParseUint: parsing "x": invalid syntax',
      "IST0125 Pod default/p: Invalid annotation traffic.sidecar.istio.io/excludeOutboundIPRanges: excludeIPRanges invalid: failed parsing cidr 'nope'",
      "IST0125 Pod default/p: Invalid annotation traffic.sidecar.istio.io/excludeInboundPorts: excludeInboundPorts invalid: failed parsing port '70000'",
      'IST0125 Pod default/p: Invalid annotation sidecar.istio.io/proxyMemory: quantities must match the regular expression',
      'IST0125 Pod default/p: Invalid annotation prometheus.istio.io/merge-metrics: strconv.ParseBool: parsing "yes": invalid syntax',
    ]);
  });

  it('needs proxy.istio.io/config to be a YAML mapping', () => {
    expect(annotationMessages(pod('"proxy.istio.io/config": "[1, 2]"'))).toEqual([
      'IST0125 Pod default/p: Invalid annotation proxy.istio.io/config: failed to convert to apply proxy config: not a YAML mapping',
    ]);
    expect(
      annotationMessages(pod('"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true"')),
    ).toEqual([]);
  });

  it('accepts valid values, wildcards and numbers YAML read as numbers', () => {
    const out = annotationMessages(
      pod(
        '"readiness.status.sidecar.istio.io/periodSeconds": 10, "traffic.sidecar.istio.io/includeOutboundIPRanges": "*", "traffic.sidecar.istio.io/includeInboundPorts": "*", "sidecar.istio.io/proxyCPU": "1.5", "sidecar.istio.io/proxyMemory": "512Mi", "status.sidecar.istio.io/port": "-1"',
      ),
    );
    // Only the one bad value is reported.
    expect(out.filter((m) => m.startsWith('IST0125'))).toEqual([
      "IST0125 Pod default/p: Invalid annotation status.sidecar.istio.io/port: excludeInboundPorts invalid: failed parsing port '-1'",
    ]);
  });

  it('reports deprecated annotations (IST0135), but not the inject annotation when the label is also set', () => {
    expect(annotationMessages(pod('"sidecar.istio.io/inject": "true"'))).toContain(
      'IST0135 Pod default/p: Annotation "sidecar.istio.io/inject" has been deprecated in favor of the "sidecar.istio.io/inject" label and may not work in future Istio versions.',
    );
    const withLabel = annotationMessages(
      pod('"sidecar.istio.io/inject": "true"', ', labels: {"sidecar.istio.io/inject": "true"}'),
    );
    expect(withLabel.filter((m) => m.startsWith('IST0135'))).toEqual([]);
  });

  it('never reports annotations Istio writes itself', () => {
    expect(
      annotationMessages(
        pod('"sidecar.istio.io/status": "{}", "istio.io/rev": "canary", "istio.io/nope": "x"'),
      ),
    ).toEqual(['IST0108 Pod default/p: Unknown annotation: istio.io/nope']);
  });
});

describe('annotations.AlphaAnalyzer', () => {
  it('reports alpha-phase annotations (IST0136) but not beta ones', () => {
    expect(
      annotationMessages(pod('"sidecar.istio.io/logLevel": debug, "proxy.istio.io/config": "{}"')),
    ).toEqual([
      'IST0136 Pod default/p: Annotation "sidecar.istio.io/logLevel" is part of an alpha-phase feature and may be incompletely supported.',
    ]);
  });

  it('skips the annotations istio-cni writes on pods without istio-init', () => {
    const cniPod =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: c, annotations: {"sidecar.istio.io/interceptionMode": REDIRECT}}\nspec: {containers: [{name: app}]}\n';
    expect(annotationMessages(cniPod)).toEqual([]);
    expect(annotationMessages(pod('"sidecar.istio.io/interceptionMode": REDIRECT'))).toHaveLength(1);
  });
});

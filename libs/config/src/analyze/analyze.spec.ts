import { parseText } from '../parse';
import { createRegistry } from '../registry';
import { analyzeResources } from './analyze';

const registry = createRegistry();

function analyze(yaml: string, meshConfig = {}): string[] {
  const { resources } = parseText(yaml, 'a.yaml');
  return analyzeResources(resources, { registry, meshConfig }).map((m) => `${m.code} ${m.origin}`);
}

const vs = (name: string, spec: string): string =>
  `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}, namespace: default}\nspec: ${spec}\n---\n`;
const svc = (name: string, ports = '[{port: 80, name: http}]'): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec: {ports: ${ports}}\n---\n`;

describe('analyzers', () => {
  it('reports schema errors as IST0106 with Istio-style origins', () => {
    expect(analyze(vs('a', '{hosts: [a]}'))).toEqual(['IST0106 VirtualService default/a']);
  });

  it('reports duplicate and overlapping matches (IST0130/IST0131)', () => {
    const out = analyze(
      svc('a') +
        vs(
          'a',
          '{hosts: [a], http: [{match: [{uri: {exact: /x}}], route: [{destination: {host: a}}]}, {match: [{uri: {exact: /x}}], route: [{destination: {host: a}}]}]}',
        ),
    );
    expect(out).toEqual(
      expect.arrayContaining(['IST0130 VirtualService default/a', 'IST0131 VirtualService default/a']),
    );
  });

  it('finds destinations that match no service (IST0101) and needs ports for multi-port services (IST0112)', () => {
    const out = analyze(
      svc('two', '[{port: 80, name: http}, {port: 81, name: http-b}]') +
        vs('a', '{hosts: [a], http: [{route: [{destination: {host: nope}}, {destination: {host: two}}]}]}'),
    );
    expect(out).toEqual(
      expect.arrayContaining(['IST0101 VirtualService default/a', 'IST0112 VirtualService default/a']),
    );
  });

  it('flags mesh VirtualServices defining the same host (IST0109)', () => {
    const out = analyze(
      svc('a') +
        vs('a1', '{hosts: [a], http: [{route: [{destination: {host: a}}]}]}') +
        vs('a2', '{hosts: [a], http: [{route: [{destination: {host: a}}]}]}'),
    );
    expect(out.filter((m) => m.startsWith('IST0109'))).toEqual([
      'IST0109 VirtualService default/a1',
      'IST0109 VirtualService default/a2',
    ]);
  });

  it('warns when TLS origination does not verify the server (IST0128)', () => {
    const out = analyze(
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec: {host: a, trafficPolicy: {tls: {mode: SIMPLE}}}\n',
    );
    expect(out).toContain('IST0128 DestinationRule default/d');
    expect(out).toContain('IST0174 DestinationRule default/d');
  });

  it('needs addresses for TCP ServiceEntries unless DNS auto-allocation is on (IST0134)', () => {
    const se =
      'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\nspec: {hosts: [a.com], ports: [{number: 9, name: tcp}]}\n';
    expect(analyze(se)).toContain('IST0134 ServiceEntry default/s');
    const mesh = {
      defaultConfig: {
        proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true' },
      },
    };
    expect(analyze(se, mesh)).not.toContain('IST0134 ServiceEntry default/s');
  });

  it('checks Kubernetes Service port names (IST0118)', () => {
    expect(analyze(svc('s', '[{port: 8080, name: foo}]'))).toEqual(['IST0118 Service default/s']);
  });
});

describe('analysis defaults and workload analyzers', () => {
  it('assumes the default ingress gateway exists, as a files-only istioctl analyze does', () => {
    const gw =
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {selector: {istio: ingressgateway}, servers: [{port: {number: 8004, name: http, protocol: HTTP}, hosts: ["*"]}]}\n';
    expect(analyze(gw)).toEqual(['IST0162 Gateway default/g']);
    expect(analyze(gw, { ingressControllerMode: 'OFF' })).toContain('IST0101 Gateway default/g');
  });

  it('flags workloads running as UID 1337 (IST0144)', () => {
    const pod =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: app, securityContext: {runAsUser: 1337}}]}\n';
    expect(analyze(pod)).toEqual(['IST0144 Pod default/p']);
  });
});

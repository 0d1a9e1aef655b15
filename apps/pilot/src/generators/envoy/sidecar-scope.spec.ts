import { configFromResources, simulate } from '@flotilla/envoy-verify';
import { core } from '@flotilla/proto';
import { REVIEWS, bookinfoModel } from '../../testing/bookinfo';
import { proxyOf } from '../model';
import type { GenerateRequest } from '../types';
import { EnvoyGenerator } from './envoy-generator';

const RATINGS = 'ratings.bookinfo.svc.cluster.local';
const DETAILS = 'details.bookinfo.svc.cluster.local';
const EXTERNAL = 'api.partner.example.com';

/** An external service in another namespace, so egress hosts have something to leave out. */
const PARTNER: Doc = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: { name: 'partner', namespace: 'partners' },
  spec: {
    hosts: [EXTERNAL],
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
    ports: [{ number: 8080, name: 'http', protocol: 'HTTP' }],
  },
};

const sidecarResource = (name: string, namespace: string, spec: Record<string, unknown>): Doc => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'Sidecar',
  metadata: { name, namespace },
  spec,
});

type Doc = Parameters<typeof bookinfoModel>[0] extends (infer D)[] | undefined ? D : never;

function generate(config: Doc[], labels: Record<string, string>) {
  const model = bookinfoModel([PARTNER, ...config]);
  const request = {
    proxy: proxyOf(
      core.Node.fromPartial({
        id: 'sidecar~127.0.0.1~reviews-v1-7f9.bookinfo~bookinfo.svc.cluster.local',
        metadata: { LABELS: labels },
      }),
    ),
    push: model.pushContext(),
    names: undefined,
    cache: undefined,
  } satisfies GenerateRequest;
  const generator = new EnvoyGenerator();
  const clusters = generator.buildClusters(request);
  const listeners = generator.buildListeners(request);
  const routes = generator.buildRoutes(request);
  const outbound = clusters.map((c) => c.name).filter((n) => n.startsWith('outbound|'));
  const envoyConfig = configFromResources([...listeners, ...routes, ...clusters].map((e) => e.resource));
  /** Where Envoy would send an HTTP request for host:port leaving the workload. */
  const routeTo = (host: string, port: number, ip = '10.0.0.99') => {
    const result = simulate(envoyConfig, {
      port,
      destinationIp: ip,
      sourceIp: '127.0.0.1',
      capture: 'outbound',
      host,
      path: '/',
      method: 'GET',
      protocol: 'http',
    });
    return (
      result.cluster ?? (result.directResponse ? `status ${result.directResponse.status}` : result.error)
    );
  };
  return { outbound, routeTo };
}

describe('Sidecar resource scoping of Envoy sidecars', () => {
  it('knows every visible service without a Sidecar', () => {
    const { outbound } = generate([], { app: 'reviews', version: 'v1' });
    expect(outbound).toEqual(
      expect.arrayContaining([`outbound|8080||${EXTERNAL}`, `outbound|9080||${RATINGS}`]),
    );
  });

  it("narrows clusters and routes to the namespace Sidecar's egress hosts, and follows its outboundTrafficPolicy", () => {
    const { outbound, routeTo } = generate(
      [
        sidecarResource('default', 'bookinfo', {
          egress: [{ hosts: ['./*'] }],
          outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
        }),
      ],
      { app: 'reviews', version: 'v1' },
    );
    expect(outbound.some((n) => n.endsWith(`|${EXTERNAL}`))).toBe(false);
    expect(outbound).toContain(`outbound|9080||${RATINGS}`);
    expect(routeTo(RATINGS, 9080)).toBe(`outbound|9080||${RATINGS}`);
    // The partner service is unknown to this proxy, and REGISTRY_ONLY refuses unknown hosts.
    expect(routeTo(EXTERNAL, 8080)).toMatch(/^(BlackHoleCluster|status 502)$/);
  });

  it('prefers a Sidecar selecting the workload over the namespace default, and the mesh-wide one last', () => {
    const config = [
      sidecarResource('mesh-default', 'istio-system', { egress: [{ hosts: ['*/*'] }] }),
      sidecarResource('default', 'bookinfo', { egress: [{ hosts: ['./*'] }] }),
      sidecarResource('reviews-only', 'bookinfo', {
        workloadSelector: { labels: { app: 'reviews' } },
        egress: [{ hosts: [`./${RATINGS}`, 'partners/*'] }],
      }),
    ];
    const reviews = generate(config, { app: 'reviews', version: 'v1' }).outbound;
    expect(reviews.some((n) => n.endsWith(`|${DETAILS}`))).toBe(false);
    expect(reviews).toEqual(
      expect.arrayContaining([`outbound|9080||${RATINGS}`, `outbound|8080||${EXTERNAL}`]),
    );
    // Another workload of the namespace gets the namespace default: its own namespace only.
    const other = generate(config, { app: 'details', version: 'v1' }).outbound;
    expect(other).toContain(`outbound|9080||${DETAILS}`);
    expect(other.some((n) => n.endsWith(`|${EXTERNAL}`))).toBe(false);
    // Without a namespace Sidecar, the root namespace's applies (everything here).
    const meshWide = generate(config.slice(0, 1), { app: 'details', version: 'v1' }).outbound;
    expect(meshWide).toEqual(
      expect.arrayContaining([`outbound|8080||${EXTERNAL}`, `outbound|9080||${REVIEWS}`]),
    );
  });
});

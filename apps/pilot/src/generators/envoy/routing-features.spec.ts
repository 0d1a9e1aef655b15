// The routing simulator run over the generator's output for the golden inputs of routes, delegates, destination
// rules and gateways: requests go where the VirtualServices, DestinationRules and Gateways say.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { configFromResources, simulate } from '@flotilla/envoy-verify';
import { sdsGrpcCluster } from '@flotilla/mesh-agent';
import type { SimulatedRequest } from '@flotilla/envoy-verify';
import { cluster, core, endpoint, route, tls, unpackAny } from '@flotilla/proto';
import type { ResourceEntry } from '@flotilla/xds';
import { MeshModel } from '../../mesh-model';
import { applyDocs } from '../../testing/bookinfo';
import { proxyOf } from '../model';
import type { GenerateRequest } from '../types';
import { mergeDelegateRoute } from './delegate';
import { EnvoyGenerator } from './envoy-generator';
import { hostIntersection } from './gateway-servers';
import { envoyRetryPolicy, resolveGatewayName } from './http-route';

function generated(testCase: string, id: string, labels: Record<string, string>) {
  const model = new MeshModel();
  applyDocs(
    model,
    loadAll(readFileSync(join(__dirname, 'testdata', `${testCase}.yaml`), 'utf8')) as Parameters<
      typeof applyDocs
    >[1],
  );
  const request = {
    proxy: proxyOf(core.Node.fromPartial({ id, metadata: { LABELS: labels } })),
    push: model.pushContext(),
    names: undefined,
    cache: undefined,
  } satisfies GenerateRequest;
  const generator = new EnvoyGenerator();
  const output = {
    listeners: generator.buildListeners(request),
    routes: generator.buildRoutes(request),
    clusters: generator.buildClusters(request),
    endpoints: generator.buildEndpoints(request),
  };
  const config = configFromResources(
    [...output.listeners, ...output.routes, ...output.clusters].map((e) => e.resource),
  );
  return { output, config };
}

function decoded<T>(entries: ResourceEntry[], name: string, type: { decode(b: Uint8Array): T }): T {
  const entry = entries.find((e) => e.name === name);
  if (!entry) throw new Error(`${name} was not generated`);
  return type.decode(entry.resource.value);
}

const WEB = 'web.shop.svc.cluster.local';

describe('VirtualService HTTP features on a client sidecar (testdata/route-features.yaml)', () => {
  const { config, output } = generated(
    'route-features',
    'sidecar~10.1.0.5~client-0.shop~shop.svc.cluster.local',
    {
      app: 'client',
      version: 'v1',
    },
  );
  const call = (init: Partial<SimulatedRequest>) =>
    simulate(config, { destinationIp: '10.96.1.1', port: 80, host: 'web', path: '/', ...init });

  it.each([
    ['a match for another gateway is left out of the mesh', { path: '/gw' }, 'main'],
    ['sourceLabels pick the route for this client', { path: '/src' }, 'my-clients'],
    ['a method match needs the method', { path: '/healthz', method: 'POST' }, 'main'],
    ['an authority match needs the authority', { path: '/legacy/x', host: 'web.shop' }, 'main'],
  ])('%s', (_, init, routeName) => {
    expect(call(init).route).toBe(routeName);
  });

  it('redirects, answers directly, rewrites and retries as the routes say', () => {
    expect(call({ path: '/docs/old/a' })).toMatchObject({
      route: 'old-docs',
      redirect: { host: 'docs.example.com', path: '/docs/new', status: 308 },
    });
    expect(call({ path: '/healthz', method: 'GET' })).toMatchObject({
      route: 'health',
      directResponse: { status: 200, body: 'ok' },
    });
    expect(call({ path: '/legacy/x', host: WEB })).toMatchObject({
      route: 'legacy',
      cluster: `outbound|80|v2|${WEB}`,
    });
    const rc = decoded(output.routes, '80', route.RouteConfiguration);
    const routes = rc.virtualHosts.find((v) => v.name === `${WEB}:80`)!.routes;
    const legacy = routes.find((r) => r.name === 'legacy')!.route!;
    expect([legacy.prefixRewrite, legacy.hostRewriteLiteral]).toEqual(['/v2/', 'web-v2.internal']);
    const flaky = routes.find((r) => r.name === 'flaky')!.route!;
    expect(flaky.retryPolicy).toMatchObject({
      retryOn: 'gateway-error,retriable-status-codes',
      numRetries: 4,
      retriableStatusCodes: [503],
    });
    // A route without a timeout gets 0, which turns off Envoy's default of 15 s (Istio's behaviour).
    expect(flaky.timeout).toMatchObject({ seconds: 0, nanos: 0 });
  });

  it('splits, mirrors, manipulates headers and applies CORS on the catch-all route', () => {
    const result = call({ path: '/anything' });
    expect([result.route, result.weightedClusters]).toEqual([
      'main',
      [
        { name: `outbound|80|v1|${WEB}`, weight: 90 },
        { name: `outbound|80|v2|${WEB}`, weight: 10 },
      ],
    ]);
    const rc = decoded(output.routes, '80', route.RouteConfiguration);
    const main = rc.virtualHosts.find((v) => v.name === `${WEB}:80`)!.routes.find((r) => r.name === 'main')!;
    expect(
      main.route!.requestMirrorPolicies.map((m) => [m.cluster, m.runtimeFraction?.defaultValue]),
    ).toMatchObject([['outbound|80||shadow.shop.svc.cluster.local', { numerator: 125_000, denominator: 2 }]]);
    const items = rc.virtualHosts
      .find((v) => v.name === `${WEB}:80`)!
      .routes.find((r) => r.name === 'items')!;
    expect(
      items.route!.requestMirrorPolicies.map((m) => [m.cluster, m.runtimeFraction?.defaultValue?.numerator]),
    ).toEqual([
      ['outbound|80||shadow.shop.svc.cluster.local', 500_000],
      [`outbound|80|v2|${WEB}`, 1_000_000],
    ]);
    expect(main.route!.retryPolicy).toBeUndefined();
    expect(main.requestHeadersToAdd.map((h) => h.header!.key)).toEqual(['x-env', 'x-hop']);
    expect(main.requestHeadersToRemove).toEqual(['x-debug']);
    expect(main.responseHeadersToRemove).toEqual(['server']);
    expect(Object.keys(main.typedPerFilterConfig)).toEqual(['envoy.filters.http.cors']);
  });

  it('routes the admin port of a multi-port service by its port match', () => {
    expect(call({ port: 9090, host: 'api:9090' })).toMatchObject({
      route: 'admin-port',
      cluster: 'outbound|9090||api.shop.svc.cluster.local',
    });
    expect(call({ port: 8080, host: 'api:8080', method: 'PUT' })).toMatchObject({
      route: 'writes',
      cluster: 'outbound|8080||api.shop.svc.cluster.local',
    });
    expect(call({ port: 8080, host: 'api:8080', method: 'GET' }).route).toBe('reads');
  });
});

describe('delegate VirtualServices (testdata/delegate.yaml)', () => {
  const { config } = generated('delegate', 'sidecar~10.2.1.5~frontend-0.web~web.svc.cluster.local', {
    app: 'frontend',
  });
  const call = (init: Partial<SimulatedRequest>) =>
    simulate(config, {
      destinationIp: '10.96.2.2',
      port: 8000,
      host: 'catalog.catalog:8000',
      path: '/',
      ...init,
    });

  it("routes by the delegate's routes under the root's prefix, and falls back to the root's next route", () => {
    expect(call({ path: '/catalog/beta/1', headers: { 'x-beta': '1' } })).toMatchObject({
      route: 'catalog-beta',
      cluster: 'outbound|8000|v2|catalog.catalog.svc.cluster.local',
    });
    expect(call({ path: '/catalog/items' })).toMatchObject({
      route: 'catalog-stable',
      cluster: 'outbound|8000|v1|catalog.catalog.svc.cluster.local',
    });
    // The delegate's /admin route lies outside the root's /catalog: Istio drops it.
    expect(call({ path: '/admin' })).toMatchObject({
      route: 'fallback',
      cluster: 'outbound|8000||frontend.web.svc.cluster.local',
    });
  });

  it('merges as Istio does: narrower matches kept, conflicting ones dropped, unset fields inherited', () => {
    const root = { name: 'r', match: [{ uri: { prefix: '/a' } }], timeout: '3s', delegate: { name: 'd' } };
    expect(mergeDelegateRoute(root, { name: 'c', match: [{ uri: { exact: '/a/b' } }] })).toMatchObject({
      name: 'r-c',
      match: [{ uri: { exact: '/a/b' } }],
      timeout: '3s',
    });
    expect(mergeDelegateRoute(root, { match: [{ uri: { prefix: '/b' } }] })).toBeUndefined();
    expect(mergeDelegateRoute(root, { match: [{ uri: { regex: '/a.*' } }] })).toBeUndefined();
    expect(mergeDelegateRoute(root, { timeout: '1s' })).toMatchObject({ name: 'r', timeout: '1s' });
  });
});

describe('clusters from DestinationRules (testdata/destination-rules.yaml)', () => {
  const { output } = generated('destination-rules', 'sidecar~10.3.0.5~client-0.apps~apps.svc.cluster.local', {
    app: 'client',
  });
  const clusterOf = (name: string) => decoded(output.clusters, name, cluster.Cluster);
  const ORDERS = 'orders.apps.svc.cluster.local';

  it('lets port-level settings and then the subset override the top-level policy', () => {
    const LB = cluster.Cluster_LbPolicy;
    expect(
      [`outbound|8080||${ORDERS}`, `outbound|9090||${ORDERS}`, `outbound|9090|v2|${ORDERS}`].map(
        (n) => clusterOf(n).lbPolicy,
      ),
    ).toEqual([LB.LEAST_REQUEST, LB.MAGLEV, LB.RING_HASH]);
    expect(clusterOf(`outbound|8080|v2|${ORDERS}`).transportSocket).toBeUndefined();
  });

  it("verifies ISTIO_MUTUAL peers by the destination's SPIFFE identity through the agent's SDS", () => {
    const socket = clusterOf(`outbound|8080|v1|${ORDERS}`).transportSocket!;
    const context = unpackAny(socket.typedConfig!, tls.UpstreamTlsContext);
    const common = context.commonTlsContext!;
    expect(
      common.tlsCertificateSdsSecretConfigs.map((s) => [
        s.name,
        s.sdsConfig?.apiConfigSource?.grpcServices[0].envoyGrpc?.clusterName,
      ]),
    ).toEqual([['default', 'sds-grpc']]);
    expect(common.combinedValidationContext?.validationContextSdsSecretConfig?.name).toBe('ROOTCA');
    expect(
      common.combinedValidationContext?.defaultValidationContext?.matchTypedSubjectAltNames.map(
        (m) => m.matcher?.exact,
      ),
    ).toEqual(['spiffe://cluster.local/ns/apps/sa/orders']);
    expect(context.sni).toBe(`outbound_.8080_.v1_.${ORDERS}`);
    // sds-grpc itself is the bootstrap's static cluster (flotilla bootstrap), never sent over CDS.
    expect(output.clusters.map((c) => c.name)).not.toContain('sds-grpc');
    expect(sdsGrpcCluster().loadAssignment?.endpoints[0].lbEndpoints[0].endpoint?.address?.pipe?.path).toBe(
      './var/run/secrets/workload-spiffe-uds/socket',
    );
  });

  it('fails over by locality through EDS priorities, and distributes by locality weights', () => {
    const orders = decoded(output.endpoints, `outbound|8080||${ORDERS}`, endpoint.ClusterLoadAssignment);
    const priorities = Object.fromEntries(
      orders.endpoints.map((e) => [e.locality!.region + '/' + e.locality!.zone, e.priority]),
    );
    // Same zone first, then the same region, then the failover region, then the rest.
    expect(priorities).toEqual({ 'eu-west/a': 0, 'eu-west/b': 1, 'us-east/a': 2, 'ap-south/a': 3 });
    const payments = decoded(
      output.endpoints,
      'outbound|8080||payments.apps.svc.cluster.local',
      endpoint.ClusterLoadAssignment,
    );
    expect(payments.endpoints.map((e) => [e.locality!.zone, e.loadBalancingWeight])).toEqual([
      ['a', 80_000],
      ['b', 20_000],
    ]);
    expect(
      clusterOf('outbound|8080||payments.apps.svc.cluster.local').commonLbConfig?.localityWeightedLbConfig,
    ).toBeDefined();
  });
});

describe('an ingress gateway (testdata/gateway-ingress.yaml)', () => {
  const { config, output } = generated(
    'gateway-ingress',
    'router~10.4.9.9~istio-ingressgateway-5c7.istio-system~istio-system.svc.cluster.local',
    { istio: 'ingressgateway', app: 'istio-ingressgateway' },
  );
  const call = (init: Partial<SimulatedRequest>) =>
    simulate(config, { destinationIp: '10.4.9.9', capture: 'direct', port: 80, path: '/', ...init });

  it('has a listener per server port and no sidecar capture listeners', () => {
    expect(output.listeners.map((l) => l.name).sort()).toEqual([
      '0.0.0.0_15443',
      '0.0.0.0_31400',
      '0.0.0.0_443',
      '0.0.0.0_80',
      '0.0.0.0_8443',
      '0.0.0.0_9443',
    ]);
  });

  it('routes plaintext HTTP by the VirtualService bound to the gateway, and redirects the httpsRedirect host', () => {
    expect(call({ host: 'shop.example.com', path: '/api/items' })).toMatchObject({
      routeConfig: 'http.80',
      route: 'api',
      cluster: 'outbound|8000||shop.shop.svc.cluster.local',
    });
    const rc = decoded(output.routes, 'http.80', route.RouteConfiguration);
    expect(rc.virtualHosts.map((v) => [v.name, v.requireTls])).toEqual([
      ['shop.example.com:80', 0],
      ['secure.example.com:80', 2],
    ]);
    expect(call({ host: 'unknown.example.com' }).error).toBeDefined();
  });

  it('terminates TLS per server by SNI, and passes TLS through by SNI', () => {
    const https = (sni: string) => call({ port: 443, protocol: 'tls', sni, host: sni, path: '/' });
    // The simulator stops at the HCM of a TLS connection (it does not decrypt); the chain names the route config.
    expect(https('shop.example.com')).toMatchObject({
      filterChain: 'https.443.https.public.istio-system',
      networkFilter: 'http_connection_manager',
    });
    const httpsRoutes = decoded(
      output.routes,
      'https.443.https.public.istio-system',
      route.RouteConfiguration,
    );
    expect(httpsRoutes.virtualHosts.map((v) => [v.name, v.routes.map((r) => r.route?.cluster)])).toEqual([
      [
        'shop.example.com:443',
        ['outbound|8000||shop.shop.svc.cluster.local', 'outbound|8000||shop.shop.svc.cluster.local'],
      ],
    ]);
    expect(https('partners.example.com')).toMatchObject({
      filterChain: 'https.443.https-mtls.public.istio-system',
    });
    expect(call({ port: 8443, protocol: 'tls', sni: 'vault.example.com' })).toMatchObject({
      networkFilter: 'tcp_proxy',
      cluster: 'outbound|8200||vault.secure.svc.cluster.local',
    });
    expect(
      call({ port: 15443, protocol: 'tls', sni: 'outbound_.8000_._.shop.shop.svc.cluster.local' }),
    ).toMatchObject({ cluster: 'outbound|8000||shop.shop.svc.cluster.local' });
    expect(call({ port: 31400, protocol: 'tcp' })).toMatchObject({
      cluster: 'outbound|5432||db.data.svc.cluster.local',
    });
    expect(call({ port: 9443, protocol: 'tls', sni: 'db.example.com' })).toMatchObject({
      filterChain: 'tls.9443.tls-db.public.istio-system',
      cluster: 'outbound|5432||db.data.svc.cluster.local',
    });
  });
});

describe('an egress gateway (testdata/gateway-egress.yaml)', () => {
  const PARTNER = 'api.partner.example';

  it('sends mesh traffic to the egress gateway, and the gateway sends it out', () => {
    const sidecar = generated(
      'gateway-egress',
      'sidecar~10.5.1.1~client.egress~egress.svc.cluster.local',
      {},
    );
    expect(
      simulate(sidecar.config, { destinationIp: '198.51.100.7', port: 80, host: PARTNER, path: '/' }),
    ).toMatchObject({
      route: 'to-egress-gateway',
      cluster: 'outbound|80||istio-egressgateway.istio-system.svc.cluster.local',
    });
    const gateway = generated(
      'gateway-egress',
      'router~10.5.0.2~istio-egressgateway-7f4.istio-system~istio-system.svc.cluster.local',
      { istio: 'egressgateway' },
    );
    expect(gateway.output.listeners.map((l) => l.name)).toEqual(['0.0.0.0_80']);
    expect(
      simulate(gateway.config, {
        destinationIp: '10.5.0.2',
        capture: 'direct',
        port: 80,
        host: PARTNER,
        path: '/',
      }),
    ).toMatchObject({ routeConfig: 'http.80', route: 'to-partner', cluster: `outbound|80||${PARTNER}` });
  });
});

describe('helpers', () => {
  it('intersects gateway and VirtualService hosts, keeping the more specific', () => {
    expect(hostIntersection('a.example.com', '*.example.com')).toBe('a.example.com');
    expect(hostIntersection('*', 'b.example.com')).toBe('b.example.com');
    expect(hostIntersection('a.example.com', 'b.example.com')).toBeUndefined();
  });

  it("resolves gateway references in the VirtualService's namespace", () => {
    expect(
      ['mesh', 'public', './public', 'istio-system/public'].map((g) => resolveGatewayName(g, 'shop')),
    ).toEqual(['mesh', 'shop/public', 'shop/public', 'istio-system/public']);
  });

  it("uses Istio's default retry policy, and none when attempts is 0", () => {
    expect(envoyRetryPolicy(undefined)).toMatchObject({ numRetries: 2, retriableStatusCodes: [503] });
    expect(envoyRetryPolicy({ attempts: 0 })).toBeUndefined();
  });
});

import {
  cluster,
  endpoint,
  fault,
  httpConnectionManager,
  listener,
  rbacFilter,
  route,
  unpackAny,
} from '@flotilla/proto';
import { EncodedResourceCache } from '@flotilla/xds';
import { REVIEWS, bookinfoModel, grpcNode } from '../testing/bookinfo';
import { GrpcGenerator } from './grpc-generator';
import { SERVER_LISTENER_PREFIX, proxyOf } from './model';
import { buildRoutes } from './route';
import type { GenerateRequest } from './types';

const RATINGS = 'ratings.bookinfo.svc.cluster.local';
const ns = 'bookinfo';
const meta = (name: string) => ({ name, namespace: ns });

function request(
  model: ReturnType<typeof bookinfoModel>,
  names: string[] | undefined,
  options: { node?: ReturnType<typeof grpcNode>; cache?: EncodedResourceCache } = {},
): GenerateRequest {
  return {
    proxy: proxyOf(options.node ?? grpcNode()),
    push: model.pushContext(),
    names: names && new Set(names),
    cache: options.cache,
  };
}

function hcmOf(l: listener.Listener) {
  return unpackAny(l.apiListener!.apiListener!, httpConnectionManager.HttpConnectionManager);
}

describe('proxyless gRPC generator on bookinfo', () => {
  const generator = new GrpcGenerator();

  describe('LDS', () => {
    it('answers a target "<host>:<port>" with an API listener whose HttpConnectionManager uses RDS, fault then router', () => {
      const [entry, ...rest] = generator.buildListeners(request(bookinfoModel(), [`${REVIEWS}:9080`]));
      expect(rest).toHaveLength(0);
      expect(entry.name).toBe(`${REVIEWS}:9080`);
      const l = unpackAny(entry.resource, listener.Listener);
      expect(l.address?.socketAddress).toMatchObject({ address: '0.0.0.0', portValue: 9080 });
      const hcm = hcmOf(l);
      expect(hcm.rds?.routeConfigName).toBe(`${REVIEWS}:9080`);
      expect(hcm.rds?.configSource?.ads).toBeDefined();
      expect(hcm.httpFilters.map((f) => f.name)).toEqual([
        'envoy.filters.http.fault',
        'envoy.filters.http.router',
      ]);
      expect(hcm.httpFilters.map((f) => f.typedConfig?.typeUrl)).toEqual([
        'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
        'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
      ]);
    });

    it('resolves short names from the proxy namespace and ignores names that are no service port', () => {
      const out = generator.buildListeners(
        request(bookinfoModel(), ['reviews:9080', 'ratings.bookinfo:9080', 'reviews:1234', 'nope:80']),
      );
      expect(out.map((e) => e.name)).toEqual(['ratings.bookinfo:9080', 'reviews:9080']);
      expect(hcmOf(unpackAny(out[1].resource, listener.Listener)).rds?.routeConfigName).toBe(
        `${REVIEWS}:9080`,
      );
    });

    it('serves every service port to a wildcard request', () => {
      expect(generator.buildListeners(request(bookinfoModel(), undefined)).map((e) => e.name)).toEqual([
        'details.bookinfo.svc.cluster.local:9080',
        'productpage.bookinfo.svc.cluster.local:9080',
        `${RATINGS}:9080`,
        `${REVIEWS}:9080`,
      ]);
    });
  });

  describe('RDS', () => {
    it('translates the reviews VirtualService: header match to v2, then 80/20 with timeout and retries', () => {
      const [entry] = generator.buildRoutes(request(bookinfoModel(), [`${REVIEWS}:9080`]));
      const rc = unpackAny(entry.resource, route.RouteConfiguration);
      expect(rc.name).toBe(`${REVIEWS}:9080`);
      expect(rc.virtualHosts).toHaveLength(1);
      const vh = rc.virtualHosts[0];
      expect(vh.domains).toEqual(
        expect.arrayContaining([
          REVIEWS,
          `${REVIEWS}:9080`,
          'reviews',
          'reviews:9080',
          'reviews.bookinfo:9080',
        ]),
      );
      const [tester, split] = vh.routes;
      expect(tester.match?.prefix).toBe('/');
      expect(tester.match?.headers).toEqual([
        expect.objectContaining({
          name: 'end-user',
          stringMatch: expect.objectContaining({ exact: 'tester' }),
        }),
      ]);
      expect(tester.route?.cluster).toBe(`outbound|9080|v2|${REVIEWS}`);
      expect(split.route?.weightedClusters?.clusters.map((c) => [c.name, c.weight])).toEqual([
        [`outbound|9080|v1|${REVIEWS}`, 80],
        [`outbound|9080|v2|${REVIEWS}`, 20],
      ]);
      expect(split.route?.timeout).toMatchObject({ seconds: 2, nanos: 0 });
      expect(split.route?.maxStreamDuration?.maxStreamDuration).toMatchObject({ seconds: 2, nanos: 0 });
      expect(split.route?.maxStreamDuration?.grpcTimeoutHeaderMax).toMatchObject({ seconds: 2, nanos: 0 });
      expect(split.route?.retryPolicy).toMatchObject({
        retryOn: 'unavailable',
        numRetries: 2,
        perTryTimeout: { seconds: 0, nanos: 500_000_000 },
      });
      expect(vh.routes).toHaveLength(2);
    });

    it('gives a service without a VirtualService a default route to its default cluster with Istio retries', () => {
      const [entry] = generator.buildRoutes(request(bookinfoModel(), [`${RATINGS}:9080`]));
      const [r] = unpackAny(entry.resource, route.RouteConfiguration).virtualHosts[0].routes;
      expect(r.name).toBe('default');
      expect(r.match?.prefix).toBe('/');
      expect(r.route?.cluster).toBe(`outbound|9080||${RATINGS}`);
      expect(r.route?.retryPolicy?.numRetries).toBe(2);
      expect(r.route?.retryPolicy?.retryOn).toContain('unavailable');
    });

    it('translates exact, prefix and regex paths, header and query matches; gRPC drops query-matched routes', () => {
      const model = bookinfoModel([
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: meta('ratings'),
          spec: {
            hosts: ['ratings'],
            http: [
              {
                match: [{ uri: { exact: '/ratings.Ratings/Get' } }],
                route: [{ destination: { host: 'ratings' } }],
              },
              {
                match: [{ uri: { regex: '/ratings\\..*' }, headers: { 'x-canary': { prefix: 'y' } } }],
                route: [{ destination: { host: 'ratings' } }],
              },
              {
                match: [{ uri: { prefix: '/ratings.' }, queryParams: { debug: { exact: '1' } } }],
                route: [{ destination: { host: 'ratings' } }],
              },
              { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
            ],
          },
        },
      ]);
      const proxy = proxyOf(grpcNode());
      const push = model.pushContext();
      const all = buildRoutes(push, proxy, push.service(RATINGS)!, 9080);
      expect(all.map((r) => r.match)).toEqual([
        expect.objectContaining({ path: '/ratings.Ratings/Get' }),
        expect.objectContaining({
          safeRegex: expect.objectContaining({ regex: '/ratings\\..*' }),
          headers: [
            expect.objectContaining({
              name: 'x-canary',
              stringMatch: expect.objectContaining({ prefix: 'y' }),
            }),
          ],
        }),
        expect.objectContaining({
          prefix: '/ratings.',
          queryParameters: [
            expect.objectContaining({ name: 'debug', stringMatch: expect.objectContaining({ exact: '1' }) }),
          ],
        }),
        expect.objectContaining({ prefix: '/' }),
      ]);
      expect(all[3].route?.cluster).toBe(`outbound|9080|v1|${REVIEWS}`);
      const [entry] = generator.buildRoutes(request(model, [`${RATINGS}:9080`]));
      const grpcRoutes = unpackAny(entry.resource, route.RouteConfiguration).virtualHosts[0].routes;
      expect(grpcRoutes.map((r) => r.match?.queryParameters.length)).toEqual([0, 0, 0]);
    });

    it('gives every route its HTTPFault config (empty without a fault), so a fault change is a route change only', () => {
      const faultVs = {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: meta('ratings'),
        spec: {
          hosts: [RATINGS],
          http: [
            {
              fault: {
                abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 50 } },
                delay: { fixedDelay: '100ms', percentage: { value: 100 } },
              },
              route: [{ destination: { host: RATINGS } }],
            },
          ],
        },
      };
      const plain = bookinfoModel();
      const withFault = bookinfoModel([faultVs]);
      const listenerOf = (m: typeof plain) => generator.buildListeners(request(m, [`${RATINGS}:9080`]))[0];
      // The listener is the same with or without faults: grpc-js-xds would not apply a filter-only listener change.
      expect(Buffer.compare(listenerOf(withFault).resource.value, listenerOf(plain).resource.value)).toBe(0);
      const faultOf = (m: typeof plain) => {
        const [entry] = generator.buildRoutes(request(m, [`${RATINGS}:9080`]));
        const [r] = unpackAny(entry.resource, route.RouteConfiguration).virtualHosts[0].routes;
        return {
          version: entry.version,
          fault: unpackAny(r.typedPerFilterConfig['envoy.filters.http.fault'], fault.HTTPFault),
        };
      };
      const injected = faultOf(withFault);
      expect(injected.fault.abort).toMatchObject({
        grpcStatus: 14,
        percentage: { numerator: 500_000, denominator: 2 },
      });
      expect(injected.fault.delay).toMatchObject({ fixedDelay: { seconds: 0, nanos: 100_000_000 } });
      const none = faultOf(plain);
      expect(none.fault.abort).toBeUndefined();
      expect(none.fault.delay).toBeUndefined();
      expect(none.version).not.toBe(injected.version);
    });
  });

  describe('CDS', () => {
    it('builds the default and subset clusters as EDS over ADS with ROUND_ROBIN', () => {
      const names = [
        `outbound|9080||${REVIEWS}`,
        `outbound|9080|v1|${REVIEWS}`,
        `outbound|9080|v2|${REVIEWS}`,
      ];
      const out = generator.buildClusters(
        request(bookinfoModel(), [...names, `outbound|9080|v9|${REVIEWS}`]),
      );
      expect(out.map((e) => e.name).sort()).toEqual([...names].sort());
      for (const e of out) {
        const c = unpackAny(e.resource, cluster.Cluster);
        expect(c.type).toBe(cluster.Cluster_DiscoveryType.EDS);
        expect(c.edsClusterConfig?.serviceName).toBe(e.name);
        expect(c.edsClusterConfig?.edsConfig?.ads).toBeDefined();
        expect(c.lbPolicy).toBe(cluster.Cluster_LbPolicy.ROUND_ROBIN);
      }
    });

    it('applies consistent hashing (RING_HASH + route hash policy), outlier detection and circuit breaking', () => {
      const warnings: string[] = [];
      const gen = new GrpcGenerator((m) => warnings.push(m));
      const model = bookinfoModel([
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: meta('ratings'),
          spec: {
            host: RATINGS,
            trafficPolicy: {
              loadBalancer: { consistentHash: { httpHeaderName: 'x-user', minimumRingSize: 2048 } },
              connectionPool: { http: { http2MaxRequests: 7 } },
              outlierDetection: {
                consecutive5xxErrors: 3,
                interval: '5s',
                baseEjectionTime: '30s',
                maxEjectionPercent: 50,
              },
            },
            subsets: [
              {
                name: 'lr',
                labels: { version: 'v1' },
                trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } },
              },
            ],
          },
        },
      ]);
      const out = gen.buildClusters(
        request(model, [`outbound|9080||${RATINGS}`, `outbound|9080|lr|${RATINGS}`]),
      );
      const def = out.find((e) => e.name === `outbound|9080||${RATINGS}`)!;
      const lr = out.find((e) => e.name === `outbound|9080|lr|${RATINGS}`)!;
      const c = unpackAny(def.resource, cluster.Cluster);
      expect(c.lbPolicy).toBe(cluster.Cluster_LbPolicy.RING_HASH);
      expect(c.ringHashLbConfig).toMatchObject({ minimumRingSize: 2048, hashFunction: 0 });
      expect(c.circuitBreakers?.thresholds[0]).toMatchObject({ priority: 0, maxRequests: 7 });
      expect(c.outlierDetection).toMatchObject({
        consecutive5xx: 3,
        enforcingConsecutive5xx: 100,
        enforcingSuccessRate: 0,
        interval: { seconds: 5, nanos: 0 },
        baseEjectionTime: { seconds: 30, nanos: 0 },
        maxEjectionPercent: 50,
      });
      // grpc-js-xds NACKs LEAST_REQUEST: the subset falls back to ROUND_ROBIN, with a warning.
      expect(unpackAny(lr.resource, cluster.Cluster).lbPolicy).toBe(cluster.Cluster_LbPolicy.ROUND_ROBIN);
      expect(warnings).toEqual([expect.stringContaining('LEAST_REQUEST')]);
      const [r] = unpackAny(
        gen.buildRoutes(request(model, [`${RATINGS}:9080`]))[0].resource,
        route.RouteConfiguration,
      ).virtualHosts[0].routes;
      expect(r.route?.hashPolicy).toEqual([
        expect.objectContaining({ header: expect.objectContaining({ headerName: 'x-user' }) }),
      ]);
    });
  });

  describe('EDS', () => {
    it('assigns subset endpoints by label, grouped by locality with load_balancing_weight, IP literals only', () => {
      const out = generator.buildEndpoints(
        request(bookinfoModel(), [`outbound|9080|v1|${REVIEWS}`, `outbound|9080||${REVIEWS}`]),
      );
      const byName = new Map(out.map((e) => [e.name, unpackAny(e.resource, endpoint.ClusterLoadAssignment)]));
      const v1 = byName.get(`outbound|9080|v1|${REVIEWS}`)!;
      expect(v1.clusterName).toBe(`outbound|9080|v1|${REVIEWS}`);
      expect(v1.endpoints).toHaveLength(1);
      expect(v1.endpoints[0]).toMatchObject({
        locality: { region: 'local', zone: 'zone-a', subZone: '' },
        loadBalancingWeight: 1,
      });
      expect(v1.endpoints[0].lbEndpoints.map((e) => e.endpoint?.address?.socketAddress)).toEqual([
        expect.objectContaining({ address: '127.0.0.1', portValue: 19082 }),
      ]);
      const all = byName.get(`outbound|9080||${REVIEWS}`)!;
      expect(all.endpoints[0].loadBalancingWeight).toBe(2);
      expect(all.endpoints[0].lbEndpoints.map((e) => e.endpoint?.address?.socketAddress?.portValue)).toEqual([
        19082, 19083,
      ]);
      expect(all.endpoints[0].lbEndpoints[0].healthStatus).toBe(1);
    });
  });

  describe('inbound (xDS-enabled gRPC servers)', () => {
    const policies = [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('reviews-allow'),
        spec: {
          selector: { matchLabels: { app: 'reviews' } },
          action: 'ALLOW',
          rules: [
            {
              to: [{ operation: { paths: ['/reviews.Reviews/*'] } }],
              when: [{ key: 'request.headers[x-team]', values: ['books'] }],
            },
            { from: [{ source: { requestPrincipals: ['*'] } }] },
          ],
        },
      },
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: meta('deny-admin'),
        spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] },
      },
    ];

    it('answers xds.istio.io/grpc/lds/inbound/<ip>:<port> with a server listener: RBAC DENY, ALLOW, router last', () => {
      const name = `${SERVER_LISTENER_PREFIX}127.0.0.1:19082`;
      const out = generator.buildListeners(
        request(bookinfoModel(policies), [name, `${SERVER_LISTENER_PREFIX}127.0.0.1:1`]),
      );
      expect(out.map((e) => e.name)).toEqual([name]);
      const l = unpackAny(out[0].resource, listener.Listener);
      expect(l.address?.socketAddress).toMatchObject({ address: '127.0.0.1', portValue: 19082 });
      expect(l.apiListener).toBeUndefined();
      expect(l.listenerFilters).toEqual([]);
      expect(l.filterChains).toHaveLength(1);
      expect(l.filterChains[0].filters).toHaveLength(1);
      const hcm = unpackAny(
        l.filterChains[0].filters[0].typedConfig!,
        httpConnectionManager.HttpConnectionManager,
      );
      expect(hcm.routeConfig?.virtualHosts[0].routes[0].nonForwardingAction).toBeDefined();
      expect(hcm.httpFilters.map((f) => f.name)).toEqual([
        'envoy.filters.http.rbac.DENY',
        'envoy.filters.http.rbac',
        'envoy.filters.http.router',
      ]);
      const deny = unpackAny(hcm.httpFilters[0].typedConfig!, rbacFilter.RBAC).rules!;
      expect(deny.action).toBe(1);
      expect(Object.keys(deny.policies)).toEqual(['bookinfo-deny-admin-0']);
      expect(
        deny.policies['bookinfo-deny-admin-0'].permissions[0].andRules?.rules[0].urlPath?.path,
      ).toMatchObject({
        prefix: '/admin',
      });
      const allow = unpackAny(hcm.httpFilters[1].typedConfig!, rbacFilter.RBAC).rules!;
      expect(allow.action).toBe(0);
      // The rule with requestPrincipals (which gRPC cannot check) is dropped from ALLOW: never more permissive.
      expect(Object.keys(allow.policies)).toEqual(['bookinfo-reviews-allow-0']);
      const p = allow.policies['bookinfo-reviews-allow-0'];
      expect(p.principals).toEqual([expect.objectContaining({ any: true })]);
      expect(p.permissions[0].andRules?.rules).toEqual([
        expect.objectContaining({
          urlPath: expect.objectContaining({
            path: expect.objectContaining({ prefix: '/reviews.Reviews/' }),
          }),
        }),
        expect.objectContaining({ header: expect.objectContaining({ name: 'x-team' }) }),
      ]);
    });

    it('gives a workload no policy selects a server listener with the router alone', () => {
      const name = `${SERVER_LISTENER_PREFIX}127.0.0.1:19084`;
      const [entry] = generator.buildListeners(request(bookinfoModel([policies[0]]), [name]));
      const hcm = unpackAny(
        unpackAny(entry.resource, listener.Listener).filterChains[0].filters[0].typedConfig!,
        httpConnectionManager.HttpConnectionManager,
      );
      expect(hcm.httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.router']);
    });
  });

  describe('shared encodings', () => {
    it('gives proxies with identical inputs the same encoded resources, and a proxy of another namespace its own', () => {
      const model = bookinfoModel();
      const cache = new EncodedResourceCache();
      const names = [`outbound|9080|v1|${REVIEWS}`];
      const a = generator.buildClusters(request(model, names, { cache }))[0].resource;
      const b = generator.buildClusters(
        request(model, names, {
          cache,
          node: grpcNode('sidecar~10.0.0.2~client-2.bookinfo~bookinfo.svc.cluster.local'),
        }),
      )[0].resource;
      const other = generator.buildClusters(
        request(model, names, {
          cache,
          node: grpcNode('sidecar~10.0.0.3~client-3.shop~shop.svc.cluster.local'),
        }),
      )[0].resource;
      expect(b).toBe(a);
      expect(other).not.toBe(a);
      expect(Buffer.from(other.value).equals(Buffer.from(a.value))).toBe(true);
      expect(cache.stats()).toMatchObject({ hits: 1, misses: 2 });
    });
  });
});

import {
  cluster,
  core,
  endpoint,
  httpConnectionManager,
  listener,
  lookupType,
  route,
  tcpProxy,
  unpackAny,
} from '@flotilla/proto';
import type { protobufAny } from '@flotilla/proto';
import { EncodedResourceCache } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { REVIEWS, bookinfoModel } from '../../testing/bookinfo';
import { parseClusterName, proxyOf } from '../model';
import type { GenerateRequest } from '../types';
import { EnvoyGenerator } from './envoy-generator';

const RATINGS = 'ratings.bookinfo.svc.cluster.local';
const DETAILS = 'details.bookinfo.svc.cluster.local';
const PRODUCTPAGE = 'productpage.bookinfo.svc.cluster.local';
const MYSQL = 'mysqldb.bookinfo.svc.cluster.local';
const REDIS = 'redis.bookinfo.svc.cluster.local';
const SIDECAR_ID = 'sidecar~127.0.0.1~reviews-v1-7f9.bookinfo~bookinfo.svc.cluster.local';

/** Bookinfo plus two TCP services (one with a virtual IP) and a LEAST_REQUEST DestinationRule for ratings. */
const EXTRA = [
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'mysqldb', namespace: 'bookinfo' },
    spec: {
      hosts: [MYSQL],
      addresses: ['10.96.0.33'],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: [{ number: 3306, name: 'tcp-mysql', protocol: 'TCP' }],
    },
  },
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'redis', namespace: 'bookinfo' },
    spec: {
      hosts: [REDIS],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: [{ number: 6379, name: 'tcp-redis', protocol: 'TCP' }],
    },
  },
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'ratings', namespace: 'bookinfo' },
    spec: { host: RATINGS, trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } },
  },
];

function sidecar(id = SIDECAR_ID, labels: Record<string, string> = { app: 'reviews', version: 'v1' }) {
  return proxyOf(core.Node.fromPartial({ id, metadata: { LABELS: labels } }));
}

function request(options: { names?: string[]; cache?: EncodedResourceCache; extra?: boolean } = {}) {
  const model = bookinfoModel(options.extra === false ? [] : EXTRA);
  return {
    proxy: sidecar(),
    push: model.pushContext(),
    names: options.names && new Set(options.names),
    cache: options.cache,
  } satisfies GenerateRequest;
}

function byName<M>(entries: ResourceEntry[], type: Parameters<typeof unpackAny<M & object>>[1]) {
  return new Map(entries.map((e) => [e.name, unpackAny(e.resource, type) as M]));
}

function filterConfig<M extends object>(
  filter: { typedConfig?: protobufAny.Any } | undefined,
  type: Parameters<typeof unpackAny<M>>[1],
) {
  return unpackAny(filter!.typedConfig!, type);
}

describe('Envoy sidecar generator on bookinfo', () => {
  const generator = new EnvoyGenerator();

  describe('CDS', () => {
    const clusters = byName<cluster.Cluster>(generator.buildClusters(request()), cluster.Cluster);

    it('names outbound, inbound and special clusters as Istio does', () => {
      expect([...clusters.keys()]).toEqual([
        `outbound|9080||${DETAILS}`,
        `outbound|3306||${MYSQL}`,
        `outbound|9080||${PRODUCTPAGE}`,
        `outbound|9080||${RATINGS}`,
        `outbound|6379||${REDIS}`,
        `outbound|9080||${REVIEWS}`,
        `outbound|9080|v1|${REVIEWS}`,
        `outbound|9080|v2|${REVIEWS}`,
        'inbound|19082||',
        'BlackHoleCluster',
        'PassthroughCluster',
        'InboundPassthroughClusterIpv4',
      ]);
    });

    it('builds outbound EDS clusters over ADS with the DestinationRule load balancer', () => {
      const v1 = clusters.get(`outbound|9080|v1|${REVIEWS}`)!;
      expect(cluster.Cluster.toJSON(v1)).toEqual({
        name: `outbound|9080|v1|${REVIEWS}`,
        type: 'EDS',
        edsClusterConfig: {
          edsConfig: { ads: {}, resourceApiVersion: 'V3' },
          serviceName: `outbound|9080|v1|${REVIEWS}`,
        },
        connectTimeout: { seconds: 10 },
        // Istio's defaults: no circuit breaking unless the DestinationRule's connection pool asks for it.
        circuitBreakers: {
          thresholds: [
            {
              maxConnections: 4294967295,
              maxPendingRequests: 4294967295,
              maxRequests: 4294967295,
              maxRetries: 4294967295,
              trackRemaining: true,
            },
          ],
        },
        // Bookinfo's ports are gRPC: Envoy must speak HTTP/2 upstream.
        typedExtensionProtocolOptions: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicitHttpConfig: { http2ProtocolOptions: {} },
          },
        },
      });
      expect(clusters.get(`outbound|9080||${RATINGS}`)!.lbPolicy).toBe(
        cluster.Cluster_LbPolicy.LEAST_REQUEST,
      );
    });

    it('delivers inbound traffic to the workload port on localhost, and builds the special clusters', () => {
      expect(cluster.Cluster.toJSON(clusters.get('inbound|19082||')!)).toEqual({
        name: 'inbound|19082||',
        type: 'STATIC',
        connectTimeout: { seconds: 10 },
        loadAssignment: {
          clusterName: 'inbound|19082||',
          endpoints: [
            {
              lbEndpoints: [
                { endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 19082 } } } },
              ],
            },
          ],
        },
      });
      expect(cluster.Cluster.toJSON(clusters.get('BlackHoleCluster')!)).toEqual({
        name: 'BlackHoleCluster',
        type: 'STATIC',
        connectTimeout: { seconds: 10 },
        loadAssignment: { clusterName: 'BlackHoleCluster' },
      });
      expect(cluster.Cluster.toJSON(clusters.get('PassthroughCluster')!)).toEqual({
        name: 'PassthroughCluster',
        type: 'ORIGINAL_DST',
        connectTimeout: { seconds: 10 },
        lbPolicy: 'CLUSTER_PROVIDED',
      });
      expect(clusters.get('InboundPassthroughClusterIpv4')!.upstreamBindConfig?.sourceAddress).toMatchObject({
        address: '127.0.0.6',
        portValue: 0,
      });
    });
  });

  describe('LDS', () => {
    const listeners = byName<listener.Listener>(generator.buildListeners(request()), listener.Listener);

    it('has virtualOutbound, one listener per outbound address and port, and virtualInbound', () => {
      expect([...listeners.keys()]).toEqual([
        'virtualOutbound',
        '10.96.0.33_3306',
        '0.0.0.0_6379',
        '0.0.0.0_9080',
        'virtualInbound',
      ]);
    });

    it('hands captured traffic to the original destination, the rest to PassthroughCluster (ALLOW_ANY)', () => {
      const vo = listeners.get('virtualOutbound')!;
      expect(vo.address?.socketAddress).toMatchObject({ address: '0.0.0.0', portValue: 15001 });
      expect(vo.useOriginalDst).toBe(true);
      expect(vo.filterChains).toHaveLength(1);
      const [filter] = vo.filterChains[0].filters;
      expect(filter.name).toBe('envoy.filters.network.tcp_proxy');
      expect(filterConfig(filter, tcpProxy.TcpProxy)).toMatchObject({
        statPrefix: 'PassthroughCluster',
        cluster: 'PassthroughCluster',
      });
    });

    it('sends unknown destinations to BlackHoleCluster under REGISTRY_ONLY', () => {
      const strict = new EnvoyGenerator({ outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } });
      const [vo] = strict.buildListeners(request({ names: ['virtualOutbound'] }));
      const l = unpackAny(vo.resource, listener.Listener);
      expect(filterConfig(l.filterChains[0].filters[0], tcpProxy.TcpProxy).cluster).toBe('BlackHoleCluster');
    });

    it('routes HTTP ports through RDS named by the port, router last, without binding', () => {
      const l = listeners.get('0.0.0.0_9080')!;
      expect(l.bindToPort).toBe(false);
      expect(l.trafficDirection).toBe(core.TrafficDirection.OUTBOUND);
      const [filter] = l.filterChains[0].filters;
      expect(filter.name).toBe('envoy.filters.network.http_connection_manager');
      const hcm = filterConfig(filter, httpConnectionManager.HttpConnectionManager);
      expect(hcm.statPrefix).toBe('outbound_0.0.0.0_9080');
      expect(hcm.rds).toMatchObject({ routeConfigName: '9080', configSource: { ads: {} } });
      expect(hcm.httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.router']);
    });

    it('proxies TCP ports to the outbound cluster, on the service VIP when it has one', () => {
      const mysql = listeners.get('10.96.0.33_3306')!;
      expect(mysql.address?.socketAddress).toMatchObject({ address: '10.96.0.33', portValue: 3306 });
      expect(filterConfig(mysql.filterChains[0].filters[0], tcpProxy.TcpProxy).cluster).toBe(
        `outbound|3306||${MYSQL}`,
      );
      const redis = listeners.get('0.0.0.0_6379')!;
      expect(filterConfig(redis.filterChains[0].filters[0], tcpProxy.TcpProxy).cluster).toBe(
        `outbound|6379||${REDIS}`,
      );
    });

    it('matches the workload port on virtualInbound and falls back to inbound passthrough', () => {
      const vi = listeners.get('virtualInbound')!;
      expect(vi.address?.socketAddress).toMatchObject({ address: '0.0.0.0', portValue: 15006 });
      expect(vi.trafficDirection).toBe(core.TrafficDirection.INBOUND);
      // Without original_dst the chains could not match the port the connection was redirected from; without
      // tls_inspector they could not tell mTLS from plaintext (no PeerAuthentication: Istio's PERMISSIVE).
      expect(vi.listenerFilters.map((f) => [f.name, f.typedConfig?.typeUrl])).toEqual([
        [
          'envoy.filters.listener.original_dst',
          'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
        ],
        [
          'envoy.filters.listener.tls_inspector',
          'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
        ],
      ]);
      expect(vi.filterChains.map((c) => [c.name, c.filterChainMatch?.destinationPort])).toEqual([
        ['inbound|19082||-mtls', 19082],
        ['inbound|19082||', 19082],
        ['virtualInbound-catchall-tcp-mtls', undefined],
        ['virtualInbound-catchall-tcp', undefined],
      ]);
      const hcm = filterConfig(vi.filterChains[1].filters[0], httpConnectionManager.HttpConnectionManager);
      expect(hcm.routeConfig?.virtualHosts[0].routes[0].route?.cluster).toBe('inbound|19082||');
      expect(hcm.httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.router']);
      expect(filterConfig(vi.filterChains[3].filters[0], tcpProxy.TcpProxy).cluster).toBe(
        'InboundPassthroughClusterIpv4',
      );
    });

    it('gives a proxy whose labels match no local endpoint only the catch-all inbound chains', () => {
      const req = { ...request(), proxy: sidecar(SIDECAR_ID, { app: 'unknown' }) };
      const [vi] = generator.buildListeners({ ...req, names: new Set(['virtualInbound']) });
      expect(unpackAny(vi.resource, listener.Listener).filterChains.map((c) => c.name)).toEqual([
        'virtualInbound-catchall-tcp-mtls',
        'virtualInbound-catchall-tcp',
      ]);
    });
  });

  describe('RDS', () => {
    const routes = byName<route.RouteConfiguration>(
      generator.buildRoutes(request()),
      route.RouteConfiguration,
    );

    it('has one route configuration per outbound HTTP port, one virtual host per service, allow_any last', () => {
      expect([...routes.keys()]).toEqual(['9080']);
      const rc = routes.get('9080')!;
      expect(rc.validateClusters).toBe(false);
      expect(rc.virtualHosts.map((vh) => vh.name)).toEqual([
        `${DETAILS}:9080`,
        `${PRODUCTPAGE}:9080`,
        `${RATINGS}:9080`,
        `${REVIEWS}:9080`,
        'allow_any',
      ]);
      const reviews = rc.virtualHosts[3];
      expect(reviews.domains).toEqual([
        REVIEWS,
        `${REVIEWS}:9080`,
        'reviews.bookinfo.svc',
        'reviews.bookinfo.svc:9080',
        'reviews.bookinfo',
        'reviews.bookinfo:9080',
        'reviews',
        'reviews:9080',
      ]);
      const allowAny = rc.virtualHosts[4];
      expect(allowAny.domains).toEqual(['*']);
      expect(allowAny.routes[0].route?.cluster).toBe('PassthroughCluster');
    });

    it('translates the reviews VirtualService into routes to subset clusters', () => {
      const reviews = routes.get('9080')!.virtualHosts[3];
      const [tester, split] = reviews.routes;
      expect(tester.match?.headers[0]).toMatchObject({ name: 'end-user', stringMatch: { exact: 'tester' } });
      expect(tester.route?.cluster).toBe(`outbound|9080|v2|${REVIEWS}`);
      expect(split.route?.weightedClusters?.clusters.map((c) => [c.name, c.weight])).toEqual([
        [`outbound|9080|v1|${REVIEWS}`, 80],
        [`outbound|9080|v2|${REVIEWS}`, 20],
      ]);
      expect(split.route?.retryPolicy).toMatchObject({ retryOn: 'unavailable', numRetries: 2 });
      expect(routes.get('9080')!.virtualHosts[2].routes[0].route?.cluster).toBe(`outbound|9080||${RATINGS}`);
    });

    it('answers unknown hosts with a 502 under REGISTRY_ONLY', () => {
      const strict = new EnvoyGenerator({ outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } });
      const [entry] = strict.buildRoutes(request({ names: ['9080'] }));
      const last = unpackAny(entry.resource, route.RouteConfiguration).virtualHosts.at(-1)!;
      expect(last.name).toBe('block_all');
      expect(last.routes[0].directResponse?.status).toBe(502);
    });
  });

  describe('EDS', () => {
    it('assigns endpoints per outbound cluster, subsets by label', () => {
      const out = generator.buildEndpoints(
        request({ names: [`outbound|9080|v2|${REVIEWS}`, `outbound|9080||${REVIEWS}`] }),
      );
      const ports = (name: string) =>
        unpackAny(
          out.find((e) => e.name === name)!.resource,
          endpoint.ClusterLoadAssignment,
        ).endpoints.flatMap((l) => l.lbEndpoints.map((e) => e.endpoint?.address?.socketAddress?.portValue));
      expect(out.map((e) => e.name)).toEqual([`outbound|9080|v2|${REVIEWS}`, `outbound|9080||${REVIEWS}`]);
      expect(ports(`outbound|9080|v2|${REVIEWS}`)).toEqual([19083]);
      expect(ports(`outbound|9080||${REVIEWS}`)).toEqual([19082, 19083]);
    });
  });

  describe('every resource', () => {
    const outputs = ['buildListeners', 'buildRoutes', 'buildClusters', 'buildEndpoints'] as const;

    /** Decodes an Any and every Any nested in it; fails on a type the generated protos do not know. */
    function resolveAll(
      any: protobufAny.Any,
      seen: string[],
      visit?: (o: Record<string, unknown>) => void,
    ): unknown {
      const type = lookupType(any.typeUrl);
      if (!type) throw new Error(`unresolvable Any ${any.typeUrl}`);
      seen.push(any.typeUrl);
      const message = type.decode(any.value);
      // Wire validity: decoding and re-encoding gives back the same bytes, and proto JSON round-trips too.
      expect(Buffer.from(type.encode(message).finish())).toEqual(Buffer.from(any.value));
      expect(Buffer.from(type.encode(type.fromJSON(type.toJSON(message))).finish())).toEqual(
        Buffer.from(any.value),
      );
      const walk = (v: unknown): void => {
        if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
        const o = v as Record<string, unknown>;
        if (typeof o['typeUrl'] === 'string' && o['value'] instanceof Uint8Array) {
          resolveAll(o as unknown as protobufAny.Any, seen, visit);
          return;
        }
        visit?.(o);
        for (const child of Object.values(o)) walk(child);
      };
      walk(message);
      return message;
    }

    it.each(outputs)(
      '%s: round-trips through the generated protos with every nested Any resolvable',
      (output) => {
        const entries = generator[output](request());
        expect(entries.length).toBeGreaterThan(0);
        const seen: string[] = [];
        for (const e of entries) {
          const message = resolveAll(e.resource, seen) as { name?: string; clusterName?: string };
          // Every resource is named as its ResourceEntry is.
          expect(message.name ?? message.clusterName).toBe(e.name);
        }
        if (output === 'buildListeners') {
          expect(new Set(seen)).toEqual(
            new Set([
              'type.googleapis.com/envoy.config.listener.v3.Listener',
              'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
              'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
              'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
              'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
            ]),
          );
        }
      },
    );

    it('follows Istio naming: outbound|port|subset|host, inbound|port||, <address>_<port>, ports for routes', () => {
      const req = request();
      for (const e of generator.buildClusters(req)) {
        if (
          ['BlackHoleCluster', 'PassthroughCluster', 'InboundPassthroughClusterIpv4', 'sds-grpc'].includes(
            e.name,
          )
        )
          continue;
        if (e.name.startsWith('inbound|')) {
          expect(e.name).toMatch(/^inbound\|\d+\|\|$/);
          continue;
        }
        expect(parseClusterName(e.name)?.direction).toBe('outbound');
      }
      for (const e of generator.buildListeners(req)) {
        expect(e.name).toMatch(/^(virtualOutbound|virtualInbound|\d+\.\d+\.\d+\.\d+_\d+)$/);
      }
      for (const e of generator.buildRoutes(req)) expect(e.name).toMatch(/^\d+$/);
      // Every cluster a route, a weighted cluster or a tcp_proxy names exists in CDS.
      const clusterNames = new Set(generator.buildClusters(req).map((e) => e.name));
      const referenced = new Set<string>();
      for (const e of [...generator.buildListeners(req), ...generator.buildRoutes(req)]) {
        resolveAll(e.resource, [], (o) => {
          if (typeof o['cluster'] === 'string' && o['cluster']) referenced.add(o['cluster']);
          const weighted = o['weightedClusters'] as { clusters: { name: string }[] } | undefined;
          for (const c of weighted?.clusters ?? []) referenced.add(c.name);
        });
      }
      expect(referenced.size).toBeGreaterThan(8);
      for (const name of referenced) expect([name, clusterNames.has(name)]).toEqual([name, true]);
    });

    it('shares encodings through the cache without mixing them up with proxyless gRPC ones', () => {
      const cache = new EncodedResourceCache();
      const first = generator.buildClusters(request({ cache }));
      const again = generator.buildClusters(request({ cache }));
      expect(again.map((e) => e.resource.value)).toEqual(first.map((e) => e.resource.value));
    });

    it('shares route configurations between proxies of a namespace unless a VirtualService matches sourceLabels', () => {
      const routesFor = (extra: Parameters<typeof bookinfoModel>[0], cache: EncodedResourceCache) => {
        const push = bookinfoModel([...EXTRA, ...(extra ?? [])]).pushContext();
        const build = (labels: Record<string, string>) =>
          generator.buildRoutes({ proxy: sidecar(SIDECAR_ID, labels), push, names: undefined, cache });
        return [build({ app: 'reviews', version: 'v1' }), build({ app: 'reviews', version: 'v2' })];
      };
      const [v1, v2] = routesFor([], new EncodedResourceCache());
      expect(v2.map((e) => e.resource)).toEqual(v1.map((e) => e.resource));
      expect(v2[0].resource).toBe(v1[0].resource); // one encoding, from the cache
      const bySource = {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'ratings-by-source', namespace: 'bookinfo' },
        spec: {
          hosts: [RATINGS],
          http: [
            {
              match: [{ sourceLabels: { version: 'v2' } }],
              route: [{ destination: { host: RATINGS } }],
              timeout: '1s',
            },
            { route: [{ destination: { host: RATINGS } }] },
          ],
        },
      };
      const [s1, s2] = routesFor([bySource], new EncodedResourceCache());
      expect(Buffer.compare(s1[0].resource.value, s2[0].resource.value)).not.toBe(0);
    });

    it('answers named subscriptions with just those names', () => {
      expect(
        generator.buildClusters(request({ names: ['BlackHoleCluster', 'nope'] })).map((e) => e.name),
      ).toEqual(['BlackHoleCluster']);
    });
  });
});

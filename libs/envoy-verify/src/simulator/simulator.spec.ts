import {
  cluster,
  configDump,
  configDumpShared,
  httpConnectionManager,
  listener,
  listenerComponents,
  packAny,
  route,
  routeComponents,
  tcpProxy,
} from '@flotilla/proto';
import { findConfigConflicts } from './config-conflicts';
import { configFromDump, configFromResources } from './envoy-config';
import type { EnvoyConfig } from './envoy-config';
import { simulate } from './simulator';
import type { SimulatedRequest } from './simulator';

function tcp(clusterName: string): listenerComponents.Filter {
  return listenerComponents.Filter.fromPartial({
    name: 'envoy.filters.network.tcp_proxy',
    typedConfig: packAny(
      tcpProxy.TcpProxy,
      tcpProxy.TcpProxy.fromPartial({ statPrefix: clusterName, cluster: clusterName }),
    ),
  });
}

function hcm(routeConfigName: string): listenerComponents.Filter {
  return listenerComponents.Filter.fromPartial({
    name: 'envoy.filters.network.http_connection_manager',
    typedConfig: packAny(
      httpConnectionManager.HttpConnectionManager,
      httpConnectionManager.HttpConnectionManager.fromPartial({ statPrefix: 's', rds: { routeConfigName } }),
    ),
  });
}

function l(init: Parameters<typeof listener.Listener.fromPartial>[0] & { ip: string; port: number }) {
  const { ip, port, ...rest } = init;
  return listener.Listener.fromPartial({
    address: { socketAddress: { address: ip, portValue: port } },
    ...rest,
  });
}

const inspector = (name: string) => ({ name: `envoy.filters.listener.${name}` });

function config(): EnvoyConfig {
  return {
    listeners: [
      l({
        name: 'virtualOutbound',
        ip: '0.0.0.0',
        port: 15001,
        useOriginalDst: true,
        filterChains: [{ name: 'catchall', filters: [tcp('PassthroughCluster')] }],
      }),
      l({
        name: '0.0.0.0_80',
        ip: '0.0.0.0',
        port: 80,
        bindToPort: false,
        filterChains: [{ name: 'http', filters: [hcm('80')] }],
      }),
      l({
        name: '10.0.0.9_80',
        ip: '10.0.0.9',
        port: 80,
        bindToPort: false,
        filterChains: [{ name: 'vip', filters: [tcp('vip-cluster')] }],
      }),
      l({
        name: '0.0.0.0_443',
        ip: '0.0.0.0',
        port: 443,
        bindToPort: false,
        listenerFilters: [inspector('tls_inspector')],
        filterChains: [
          {
            name: 'exact-sni',
            filterChainMatch: { serverNames: ['api.example.com'] },
            filters: [tcp('api')],
          },
          {
            name: 'wildcard-sni',
            filterChainMatch: { serverNames: ['*.example.com'] },
            filters: [tcp('wild')],
          },
          { name: 'tls-any', filterChainMatch: { transportProtocol: 'tls' }, filters: [tcp('tls')] },
          { name: 'plain', filterChainMatch: { transportProtocol: 'raw_buffer' }, filters: [tcp('plain')] },
        ],
      }),
      l({
        name: 'virtualInbound',
        ip: '0.0.0.0',
        port: 15006,
        listenerFilters: [inspector('original_dst'), inspector('http_inspector')],
        filterChains: [
          {
            name: 'port-9080-http',
            filterChainMatch: { destinationPort: 9080, applicationProtocols: ['http/1.1', 'h2c'] },
            filters: [hcm('inbound')],
          },
          {
            name: 'port-9080-tcp',
            filterChainMatch: { destinationPort: 9080 },
            filters: [tcp('inbound-tcp')],
          },
          {
            name: 'port-3306-subnet',
            filterChainMatch: {
              destinationPort: 3306,
              prefixRanges: [{ addressPrefix: '10.1.0.0', prefixLen: 16 }],
            },
            filters: [tcp('db-subnet')],
          },
          {
            name: 'port-3306-host',
            filterChainMatch: {
              destinationPort: 3306,
              prefixRanges: [{ addressPrefix: '10.1.2.3', prefixLen: 32 }],
              sourcePorts: [5555],
            },
            filters: [tcp('db-host')],
          },
          { name: 'catchall', filters: [tcp('InboundPassthroughClusterIpv4')] },
        ],
      }),
    ],
    routes: [
      route.RouteConfiguration.fromPartial({
        name: '80',
        virtualHosts: [
          {
            name: 'reviews',
            domains: ['reviews', 'reviews:80', 'reviews.ns.svc.cluster.local'],
            routes: [
              {
                name: 'jason',
                match: { prefix: '/', headers: [{ name: 'end-user', stringMatch: { exact: 'jason' } }] },
                route: { cluster: 'reviews-v2' },
              },
              { name: 'exact', match: { path: '/exact' }, route: { cluster: 'exact' } },
              {
                name: 'regex',
                match: { safeRegex: { regex: '/items/[0-9]+' } },
                route: { cluster: 'regex' },
              },
              { name: 'separated', match: { pathSeparatedPrefix: '/api' }, route: { cluster: 'separated' } },
              {
                name: 'nocase',
                match: { prefix: '/CaSe', caseSensitive: false },
                route: { cluster: 'nocase' },
              },
              {
                name: 'post',
                match: { prefix: '/', headers: [{ name: ':method', stringMatch: { exact: 'POST' } }] },
                route: { cluster: 'post' },
              },
              {
                name: 'query',
                match: { prefix: '/', queryParameters: [{ name: 'debug', stringMatch: { exact: '1' } }] },
                route: { cluster: 'query' },
              },
              {
                name: 'no-beta',
                match: { prefix: '/beta', headers: [{ name: 'x-beta', presentMatch: false }] },
                route: { cluster: 'no-beta' },
              },
              {
                name: 'not-bot',
                match: {
                  prefix: '/beta',
                  headers: [{ name: 'user-agent', prefixMatch: 'bot', invertMatch: true }],
                },
                route: { cluster: 'not-bot' },
              },
              { name: 'teapot', match: { prefix: '/teapot' }, directResponse: { status: 418 } },
              {
                name: 'split',
                match: { prefix: '/' },
                route: {
                  weightedClusters: {
                    clusters: [
                      { name: 'reviews-v1', weight: 80 },
                      { name: 'reviews-v2', weight: 20 },
                    ],
                  },
                },
              },
            ],
          },
          {
            name: 'suffix',
            domains: ['*.example.com'],
            routes: [{ match: { prefix: '/' }, route: { cluster: 'suffix' } }],
          },
          {
            name: 'longer-suffix',
            domains: ['*.api.example.com'],
            routes: [{ match: { prefix: '/' }, route: { cluster: 'longer' } }],
          },
          {
            name: 'prefix',
            domains: ['foo.*'],
            routes: [{ match: { prefix: '/' }, route: { cluster: 'prefix' } }],
          },
          {
            name: 'any',
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, route: { cluster: 'PassthroughCluster' } }],
          },
        ],
      }),
    ],
    clusters: ['reviews-v1', 'reviews-v2', 'PassthroughCluster', 'vip-cluster', 'api'].map((name) =>
      cluster.Cluster.fromPartial({ name }),
    ),
  };
}

const http = (init: Partial<SimulatedRequest> = {}) =>
  simulate(config(), { destinationIp: '10.0.0.5', port: 80, host: 'reviews:80', path: '/', ...init });

describe('simulate: listeners', () => {
  it('hands captured connections to the listener of the original destination, exact address first', () => {
    expect(http()).toMatchObject({
      acceptedBy: 'virtualOutbound',
      listener: '0.0.0.0_80',
      filterChain: 'http',
    });
    expect(http({ destinationIp: '10.0.0.9', protocol: 'tcp' })).toMatchObject({
      listener: '10.0.0.9_80',
      cluster: 'vip-cluster',
    });
  });

  it('keeps connections to ports without a listener on virtualOutbound', () => {
    expect(http({ port: 5000, protocol: 'tcp' })).toMatchObject({
      listener: 'virtualOutbound',
      filterChain: 'catchall',
      networkFilter: 'tcp_proxy',
      cluster: 'PassthroughCluster',
    });
  });

  it('reaches only bound listeners without capture', () => {
    expect(http({ capture: 'direct' }).error).toBe('no listener binds 10.0.0.5:80');
    expect(http({ capture: 'direct', port: 15001, protocol: 'tcp' }).listener).toBe('virtualOutbound');
  });
});

describe('simulate: filter chains in Envoy order', () => {
  const tls = (sni?: string) => http({ port: 443, protocol: 'tls', sni });
  it('prefers the exact server name, then the longest wildcard, then chains without server_names', () => {
    expect(tls('api.example.com').filterChain).toBe('exact-sni');
    expect(tls('www.example.com').filterChain).toBe('wildcard-sni');
    expect(tls('example.org').filterChain).toBe('tls-any');
    expect(tls(undefined).filterChain).toBe('tls-any');
  });

  it('takes raw_buffer as the transport protocol of a plaintext connection', () => {
    expect(http({ port: 443, protocol: 'tcp' }).filterChain).toBe('plain');
  });

  it('matches the destination port first and the HTTP inspector ALPN next, on virtualInbound', () => {
    const inbound = (init: Partial<SimulatedRequest>) => http({ capture: 'inbound', port: 9080, ...init });
    expect(inbound({})).toMatchObject({
      acceptedBy: 'virtualInbound',
      listener: 'virtualInbound',
      filterChain: 'port-9080-http',
    });
    expect(inbound({ protocol: 'tcp' }).filterChain).toBe('port-9080-tcp');
    expect(inbound({ port: 7777, protocol: 'tcp' }).cluster).toBe('InboundPassthroughClusterIpv4');
  });

  it('takes the longest destination prefix, without backtracking to a less specific chain', () => {
    const db = (ip: string, sourcePort?: number) =>
      simulate(config(), { capture: 'inbound', destinationIp: ip, port: 3306, protocol: 'tcp', sourcePort });
    expect(db('10.1.9.9').filterChain).toBe('port-3306-subnet');
    expect(db('10.1.2.3', 5555).filterChain).toBe('port-3306-host');
    // 10.1.2.3/32 is more specific than 10.1.0.0/16, so a wrong source port means no chain at all.
    expect(db('10.1.2.3', 1234).error).toBe('no filter chain of virtualInbound matches on source_ports');
    // No chain names the port's 10.2.x addresses, and the port match already excluded the catch-all chain.
    expect(db('10.2.0.1').error).toBe('no filter chain of virtualInbound matches on prefix_ranges');
  });

  it('uses the default filter chain when nothing matches', () => {
    const c = config();
    c.listeners[3].defaultFilterChain = listenerComponents.FilterChain.fromPartial({
      filters: [tcp('default')],
    });
    c.listeners[3].filterChains = c.listeners[3].filterChains.slice(0, 2);
    expect(simulate(c, { destinationIp: '1.2.3.4', port: 443, protocol: 'tcp' })).toMatchObject({
      filterChain: 'default_filter_chain',
      cluster: 'default',
    });
  });

  it('reports chains with the same match, which Envoy would reject', () => {
    const c = config();
    c.listeners[1].filterChains.push(
      listenerComponents.FilterChain.fromPartial({ name: 'twin', filters: [tcp('x')] }),
    );
    expect(simulate(c, { destinationIp: '10.0.0.5', port: 80 }).error).toBe(
      'filter chains http, twin of 0.0.0.0_80 have the same match (Envoy rejects this)',
    );
  });
});

describe('simulate: virtual hosts and routes', () => {
  it('matches domains exactly, then by the longest suffix wildcard, then prefix wildcard, then *', () => {
    expect(http({ host: 'REVIEWS:80' }).virtualHost).toBe('reviews');
    expect(http({ host: 'a.api.example.com' }).virtualHost).toBe('longer-suffix');
    expect(http({ host: 'www.example.com' }).virtualHost).toBe('suffix');
    expect(http({ host: 'foo.bar' }).virtualHost).toBe('prefix');
    // A wildcard stands for at least one character.
    expect(http({ host: '.example.com' }).virtualHost).toBe('any');
    expect(http({ host: 'unknown' })).toMatchObject({ virtualHost: 'any', cluster: 'PassthroughCluster' });
  });

  it("follows the HCM's strip_any_host_port, strip_matching_host_port and strip_trailing_host_dot", () => {
    const withHcm = (init: Parameters<typeof httpConnectionManager.HttpConnectionManager.fromPartial>[0]) => {
      const c = config();
      c.listeners[1].filterChains[0].filters[0].typedConfig = packAny(
        httpConnectionManager.HttpConnectionManager,
        httpConnectionManager.HttpConnectionManager.fromPartial({
          statPrefix: 's',
          rds: { routeConfigName: '80' },
          ...init,
        }),
      );
      return (host: string) => simulate(c, { destinationIp: '10.0.0.5', port: 80, host }).virtualHost;
    };
    // Without stripping, "www.example.com:80" is not "*.example.com" — wildcards match the whole authority.
    expect(withHcm({})('www.example.com:80')).toBe('any');
    expect(withHcm({ stripAnyHostPort: true })('www.example.com:8080')).toBe('suffix');
    expect(withHcm({ stripMatchingHostPort: true })('www.example.com:80')).toBe('suffix');
    expect(withHcm({ stripMatchingHostPort: true })('www.example.com:81')).toBe('any');
    expect(withHcm({ stripTrailingHostDot: true })('reviews.')).toBe('reviews');
  });

  it.each([
    [{ headers: { 'End-User': 'jason' } }, 'jason', 'reviews-v2'],
    [{ path: '/exact' }, 'exact', 'exact'],
    [{ path: '/exact?x=1' }, 'exact', 'exact'],
    [{ path: '/items/42' }, 'regex', 'regex'],
    [{ path: '/api' }, 'separated', 'separated'],
    [{ path: '/api/v1' }, 'separated', 'separated'],
    [{ path: '/case/x' }, 'nocase', 'nocase'],
    [{ method: 'POST' }, 'post', 'post'],
    [{ path: '/?debug=1' }, 'query', 'query'],
    [{ path: '/beta' }, 'no-beta', 'no-beta'],
    [{ path: '/beta', headers: { 'x-beta': '1', 'user-agent': 'curl' } }, 'not-bot', 'not-bot'],
  ])('routes %j by route %s to %s', (init, routeName, clusterName) => {
    expect(http(init as Partial<SimulatedRequest>)).toMatchObject({ route: routeName, cluster: clusterName });
  });

  it('takes the first matching route and reports weighted clusters with their weights', () => {
    for (const path of ['/items/4x', '/apix', '/beta']) {
      const headers: Record<string, string> =
        path === '/beta' ? { 'x-beta': '1', 'user-agent': 'bot/1' } : {};
      expect(http({ path, headers })).toMatchObject({
        route: 'split',
        weightedClusters: [
          { name: 'reviews-v1', weight: 80 },
          { name: 'reviews-v2', weight: 20 },
        ],
      });
    }
    expect(http({ headers: { 'end-user': 'Jason' } }).route).toBe('split');
  });

  it('answers direct responses and flags clusters CDS does not have', () => {
    expect(http({ path: '/teapot' })).toMatchObject({ route: 'teapot', directResponse: { status: 418 } });
    expect(http({ path: '/exact' }).unknownClusters).toEqual(['exact']);
    expect(http().unknownClusters).toBeUndefined();
  });

  it('says why nothing matched when the RDS configuration is missing', () => {
    const c = config();
    c.routes = [];
    expect(simulate(c, { destinationIp: '10.0.0.5', port: 80 })).toMatchObject({
      listener: '0.0.0.0_80',
      networkFilter: 'http_connection_manager',
      error: 'RDS route configuration "80" is missing',
    });
  });
});

describe('loading configuration', () => {
  it('reads listeners, routes and clusters from Any resources and from a ConfigDump', () => {
    const c = config();
    const anys = [
      ...c.listeners.map((x) => packAny(listener.Listener, x)),
      ...c.routes.map((x) => packAny(route.RouteConfiguration, x)),
      ...c.clusters.map((x) => packAny(cluster.Cluster, x)),
    ];
    expect(configFromResources(anys)).toEqual(c);
    const dump = configDump.ConfigDump.fromPartial({
      configs: [
        packAny(
          configDumpShared.ListenersConfigDump,
          configDumpShared.ListenersConfigDump.fromPartial({
            dynamicListeners: c.listeners.map((x) => ({
              name: x.name,
              activeState: { listener: packAny(listener.Listener, x) },
            })),
          }),
        ),
        packAny(
          configDumpShared.RoutesConfigDump,
          configDumpShared.RoutesConfigDump.fromPartial({
            dynamicRouteConfigs: c.routes.map((x) => ({ routeConfig: packAny(route.RouteConfiguration, x) })),
          }),
        ),
        packAny(
          configDumpShared.ClustersConfigDump,
          configDumpShared.ClustersConfigDump.fromPartial({
            dynamicActiveClusters: c.clusters.map((x) => ({ cluster: packAny(cluster.Cluster, x) })),
          }),
        ),
      ],
    });
    const loaded = configFromDump(dump);
    expect(loaded).toEqual(c);
    expect(simulate(loaded, { destinationIp: '10.0.0.5', port: 80, host: 'reviews' }).route).toBe('split');
    expect(routeComponents.VirtualHost.toJSON(loaded.routes[0].virtualHosts[0])).toMatchObject({
      name: 'reviews',
    });
  });
});

describe('findConfigConflicts', () => {
  it('finds nothing in a configuration Envoy accepts', () => {
    expect(findConfigConflicts(config())).toEqual([]);
  });

  it('finds filter chains whose matches overlap on one combination, duplicate domains and names', () => {
    const c = config();
    c.listeners[3].filterChains.push(
      listenerComponents.FilterChain.fromPartial({
        name: 'overlap',
        filterChainMatch: { serverNames: ['www.example.com', 'api.example.com'] },
        filters: [tcp('x')],
      }),
    );
    c.routes[0].virtualHosts[1].domains.push('Reviews');
    c.clusters.push(cluster.Cluster.fromPartial({ name: 'api' }));
    expect(findConfigConflicts(c)).toEqual([
      'cluster api is defined twice',
      'listener 0.0.0.0_443: filter chains exact-sni and overlap have the same matching rules',
      'route configuration 80: domain reviews is in virtual hosts reviews and suffix',
    ]);
  });
});

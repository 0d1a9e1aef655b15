// The checks that stand in for a real Envoy (issue 7, item 5): pilot's config_dump for a bookinfo sidecar decodes
// with every Any resolvable, passes the protoc-gen-validate rules of Envoy's protos, and routes bookinfo requests
// the way its VirtualServices say.
import { configFromDump, envoyRuleChecker, findConfigConflicts, simulate } from '@flotilla/envoy-verify';
import type { SimulatedRequest } from '@flotilla/envoy-verify';
import {
  configDump,
  configDumpShared,
  core,
  httpConnectionManager,
  listener,
  packAny,
  typeUrlOf,
  unpackAny,
} from '@flotilla/proto';
import { createLogger } from '@flotilla/service-kit';
import { TypeUrl } from '@flotilla/xds';
import type { ConnectionInfo } from '@flotilla/xds';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { configFromResources } from '@flotilla/envoy-verify';
import { MeshModel } from '../../mesh-model';
import { REVIEWS, applyDocs, bookinfoDocs } from '../../testing/bookinfo';
import { PilotXds } from '../../xds';
import { proxyOf } from '../model';
import type { GenerateRequest } from '../types';
import { EnvoyGenerator } from './envoy-generator';
import type { MeshConfig } from './common';

const RATINGS = 'ratings.bookinfo.svc.cluster.local';
const MYSQL = 'mysqldb.bookinfo.svc.cluster.local';
const PRODUCTPAGE_ID = 'sidecar~127.0.0.1~productpage-v1.bookinfo~bookinfo.svc.cluster.local';
const logger = createLogger('envoy-checks-test', 'silent');

/** Bookinfo plus a TCP service with a virtual IP, so that the dump has a tcp_proxy listener too. */
const MYSQL_ENTRY = {
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
};

/** A connection of the productpage sidecar subscribed by wildcard to the four xDS types, as Envoy subscribes. */
function productpageSidecar(): ConnectionInfo {
  const node = core.Node.fromPartial({
    id: PRODUCTPAGE_ID,
    metadata: { LABELS: { app: 'productpage', version: 'v1' } },
  });
  const types: string[] = [
    TypeUrl.Cluster,
    TypeUrl.Listener,
    TypeUrl.RouteConfiguration,
    TypeUrl.ClusterLoadAssignment,
  ];
  return {
    id: `${PRODUCTPAGE_ID}-1`,
    protocol: 'delta',
    node,
    peer: 'test',
    connectedAt: new Date(),
    watched: (t) =>
      types.includes(t) ? { typeUrl: t, wildcard: true, names: new Set<string>() } : undefined,
    watchedTypes: () => types,
    watches: (t) => types.includes(t),
  };
}

/** The dump as /debug/config_dump serves it: proto JSON, read back the way `flotilla proxy-config` reads it. */
function servedDump(meshConfig?: MeshConfig): configDump.ConfigDump {
  const model = new MeshModel();
  applyDocs(model, [...bookinfoDocs(), MYSQL_ENTRY]);
  const xds = new PilotXds({ model, logger, meshConfig });
  const dump = xds.configDump(productpageSidecar())!;
  return configDump.ConfigDump.fromJSON(JSON.parse(JSON.stringify(configDump.ConfigDump.toJSON(dump))));
}

describe('config_dump of a bookinfo Envoy sidecar', () => {
  const dump = servedDump();
  const config = configFromDump(dump);

  it('has every Any resolvable and breaks no protoc-gen-validate rule of the Envoy protos', () => {
    const bytes = configDump.ConfigDump.encode(dump).finish();
    expect(envoyRuleChecker().checkBytes(typeUrlOf(configDump.ConfigDump), bytes, 'config_dump')).toEqual([]);
    expect(config.listeners.map((l) => l.name)).toEqual([
      'virtualOutbound',
      '10.96.0.33_3306',
      '0.0.0.0_9080',
      'virtualInbound',
    ]);
    expect(config.routes.map((r) => r.name)).toEqual(['9080']);
    expect(config.clusters.length).toBeGreaterThan(8);
  });

  it('has nothing Envoy would reject on loading: no overlapping filter chains, duplicate domains or names', () => {
    expect(findConfigConflicts(config)).toEqual([]);
    expect(
      findConfigConflicts(configFromDump(servedDump({ outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }))),
    ).toEqual([]);
  });

  it('would name the path of a broken field inside the dump', () => {
    // The same dump with the 0.0.0.0_9080 HCM's stat_prefix emptied: the checker must find it through three Anys.
    const broken = servedDump();
    const section = configDumpShared.ListenersConfigDump.decode(broken.configs[1].value);
    const index = section.dynamicListeners.findIndex((d) => d.name === '0.0.0.0_9080');
    const l = listener.Listener.decode(section.dynamicListeners[index].activeState!.listener!.value);
    const filter = l.filterChains[0].filters[0];
    const hcm = unpackAny(filter.typedConfig!, httpConnectionManager.HttpConnectionManager);
    filter.typedConfig = packAny(httpConnectionManager.HttpConnectionManager, { ...hcm, statPrefix: '' });
    section.dynamicListeners[index].activeState!.listener = packAny(listener.Listener, l);
    broken.configs[1] = packAny(configDumpShared.ListenersConfigDump, section);
    const bytes = configDump.ConfigDump.encode(broken).finish();
    expect(envoyRuleChecker().checkBytes(typeUrlOf(configDump.ConfigDump), bytes)).toEqual([
      {
        path: `configs[1].dynamic_listeners[${index}].active_state.listener.filter_chains[0].filters[0].typed_config.stat_prefix`,
        rule: 'string.min_len',
        message: 'string length 0 < min_len 1',
      },
    ]);
  });

  const outbound = (init: Partial<SimulatedRequest>) =>
    simulate(config, { destinationIp: '10.96.0.10', port: 9080, path: '/', ...init });

  it('routes reviews requests from testers to v2', () => {
    expect(outbound({ host: 'reviews:9080', headers: { 'end-user': 'tester' } })).toEqual({
      acceptedBy: 'virtualOutbound',
      listener: '0.0.0.0_9080',
      filterChain: '0.0.0.0_9080',
      networkFilter: 'http_connection_manager',
      routeConfig: '9080',
      virtualHost: `${REVIEWS}:9080`,
      route: 'bookinfo/reviews.0',
      cluster: `outbound|9080|v2|${REVIEWS}`,
    });
  });

  it('splits other reviews requests 80/20 between v1 and v2, by every name the service has', () => {
    for (const host of [REVIEWS, `${REVIEWS}:9080`, 'reviews.bookinfo', 'reviews', 'reviews:9080']) {
      const result = outbound({ host, headers: { 'end-user': 'someone' } });
      expect([host, result.virtualHost, result.weightedClusters]).toEqual([
        host,
        `${REVIEWS}:9080`,
        [
          { name: `outbound|9080|v1|${REVIEWS}`, weight: 80 },
          { name: `outbound|9080|v2|${REVIEWS}`, weight: 20 },
        ],
      ]);
      expect(result.unknownClusters).toBeUndefined();
    }
  });

  it('sends services without a VirtualService to their default cluster', () => {
    expect(outbound({ host: 'ratings:9080' })).toMatchObject({
      virtualHost: `${RATINGS}:9080`,
      cluster: `outbound|9080||${RATINGS}`,
    });
  });

  it('passes unknown hosts and ports through under ALLOW_ANY and blocks them under REGISTRY_ONLY', () => {
    expect(outbound({ host: 'example.com' })).toMatchObject({
      virtualHost: 'allow_any',
      cluster: 'PassthroughCluster',
    });
    expect(outbound({ port: 8443, protocol: 'tcp' })).toMatchObject({
      listener: 'virtualOutbound',
      cluster: 'PassthroughCluster',
    });
    const strict = configFromDump(servedDump({ outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }));
    expect(simulate(strict, { destinationIp: '10.96.0.10', port: 9080, host: 'example.com' })).toMatchObject({
      virtualHost: 'block_all',
      directResponse: { status: 502 },
    });
    expect(simulate(strict, { destinationIp: '1.1.1.1', port: 8443, protocol: 'tcp' })).toMatchObject({
      listener: 'virtualOutbound',
      cluster: 'BlackHoleCluster',
    });
  });

  it('proxies TCP to a service virtual IP through its own listener', () => {
    expect(outbound({ destinationIp: '10.96.0.33', port: 3306, protocol: 'tcp' })).toMatchObject({
      listener: '10.96.0.33_3306',
      networkFilter: 'tcp_proxy',
      cluster: `outbound|3306||${MYSQL}`,
    });
  });

  it('delivers inbound calls to the workload port and everything else to the inbound passthrough', () => {
    const inbound = (port: number, protocol: SimulatedRequest['protocol']) =>
      simulate(config, {
        capture: 'inbound',
        destinationIp: '127.0.0.1',
        port,
        protocol,
        host: 'productpage:9080',
      });
    expect(inbound(19080, 'http')).toMatchObject({
      listener: 'virtualInbound',
      filterChain: 'inbound|19080||',
      cluster: 'inbound|19080||',
    });
    expect(inbound(7070, 'tcp')).toMatchObject({
      filterChain: 'virtualInbound-catchall-tcp',
      cluster: 'InboundPassthroughClusterIpv4',
    });
  });
});

describe('routing of testdata/http-routing.yaml for its productpage sidecar', () => {
  const SHOP_REVIEWS = 'reviews.shop.svc.cluster.local';
  const SHOP_RATINGS = 'ratings.shop.svc.cluster.local';
  const model = new MeshModel();
  applyDocs(
    model,
    loadAll(readFileSync(join(__dirname, 'testdata', 'http-routing.yaml'), 'utf8')) as Parameters<
      typeof applyDocs
    >[1],
  );
  const request = {
    proxy: proxyOf(
      core.Node.fromPartial({
        id: 'sidecar~10.0.0.10~productpage-v1-5d9.shop~shop.svc.cluster.local',
        metadata: { LABELS: { app: 'productpage', version: 'v1' } },
      }),
    ),
    push: model.pushContext(),
    names: undefined,
    cache: undefined,
  } satisfies GenerateRequest;
  const generator = new EnvoyGenerator();
  const config = configFromResources(
    [
      ...generator.buildListeners(request),
      ...generator.buildRoutes(request),
      ...generator.buildClusters(request),
    ].map((e) => e.resource),
  );
  const call = (init: Partial<SimulatedRequest>) =>
    simulate(config, {
      destinationIp: '10.96.7.7',
      port: 9080,
      host: 'reviews.shop:9080',
      path: '/',
      ...init,
    });

  it.each([
    ['end-user jason', 'jason', `outbound|9080|v2|${SHOP_REVIEWS}`, { headers: { 'end-user': 'jason' } }],
    ['/beta?preview=true', 'beta', `outbound|9080|v2|${SHOP_REVIEWS}`, { path: '/beta?preview=true' }],
    [
      'ratings by id (with fault injection)',
      'shop/ratings.0',
      `outbound|9080||${SHOP_RATINGS}`,
      { host: 'ratings.shop.svc.cluster.local', path: '/ratings/7' },
    ],
    [
      'other ratings paths',
      'shop/ratings.1',
      `outbound|9080||${SHOP_RATINGS}`,
      { host: 'ratings', path: '/ratings/x' },
    ],
  ])('%s → route %s, cluster %s', (_, routeName, clusterName, init) => {
    expect(call(init as Partial<SimulatedRequest>)).toMatchObject({ route: routeName, cluster: clusterName });
  });

  it.each([
    ['end-user someone', { headers: { 'end-user': 'someone' } }],
    ['/beta without preview=true', { path: '/beta?preview=false' }],
  ])('%s → the 75/25 split', (_, init) => {
    const result = call(init);
    expect([result.route, result.weightedClusters, result.unknownClusters]).toEqual([
      'split',
      [
        { name: `outbound|9080|v1|${SHOP_REVIEWS}`, weight: 75 },
        { name: `outbound|9080|v2|${SHOP_REVIEWS}`, weight: 25 },
      ],
      undefined,
    ]);
  });

  it('routes the details port by its own route configuration', () => {
    expect(call({ port: 8000, host: 'details.shop:8000' })).toMatchObject({
      listener: '0.0.0.0_8000',
      routeConfig: '8000',
      cluster: 'outbound|8000||details.shop.svc.cluster.local',
    });
  });
});

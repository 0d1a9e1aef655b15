// Pilot's generators behind the real ADS server, proven with the real proxyless client: @grpc/grpc-js-xds resolves
// xds:///reviews.bookinfo.svc.cluster.local:9080 through LDS → RDS → CDS → EDS built from bookinfo's config, and
// its calls reach the v1/v2 backends as the VirtualService routes them; then config and endpoint changes move them.
import * as grpc from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import { GrpcServer, createLogger } from '@flotilla/service-kit';
import { WhoClient, callWho, startWhoServer, waitFor } from '@flotilla/testing';
import { AdsServer, EncodedResourceCache, TypeUrl, pushRequest } from '@flotilla/xds';
import type { ConnectionInfo } from '@flotilla/xds';
import { configDump } from '@flotilla/proto';
import { MeshModel } from './mesh-model';
import { REVIEWS, applyDocs, bookinfoDocs, grpcNode } from './testing/bookinfo';
import { PilotXds, watchingHosts } from './xds';

const logger = createLogger('pilot-xds-test', 'silent');
const WE = 'networking.istio.io/v1alpha3/WorkloadEntry';
type Doc = ReturnType<typeof bookinfoDocs>[number];

function withPorts(docs: Doc[], ports: Record<string, number>): Doc[] {
  return docs.map((d) =>
    d.kind === 'WorkloadEntry' && ports[d.metadata.name]
      ? { ...d, spec: { ...d.spec, ports: { grpc: ports[d.metadata.name] } } }
      : d,
  );
}

function fakeConnection(node = grpcNode(), watched: Record<string, string[]> = {}): ConnectionInfo {
  return {
    id: `${node.id}-1`,
    protocol: 'sotw',
    node,
    peer: 'test',
    connectedAt: new Date(),
    watched: (t) => (watched[t] ? { typeUrl: t, wildcard: false, names: new Set(watched[t]) } : undefined),
    watchedTypes: () => Object.keys(watched),
    watches: (t, n) => !!watched[t] && (n === undefined || watched[t].includes(n)),
  };
}

describe('MeshModel and push policy', () => {
  it('tells endpoint-only changes (scoped to the hostnames) from config and service changes', () => {
    const model = new MeshModel();
    const changes: unknown[] = [];
    model.onChange((c) => changes.push(c));
    applyDocs(model, bookinfoDocs());
    expect(changes).toContainEqual(expect.objectContaining({ kind: 'config', reason: 'service' }));
    expect(changes).toContainEqual(expect.objectContaining({ kind: 'config', reason: 'config' }));
    changes.length = 0;
    const before = model.pushContext();
    const docs = withPorts(bookinfoDocs(), { 'reviews-v2': 29083 });
    applyDocs(
      model,
      docs.filter((d) => d.kind === 'WorkloadEntry'),
      [WE],
    );
    expect(changes).toEqual([{ kind: 'endpoints', hosts: new Set([REVIEWS]) }]);
    // An endpoint-only change keeps the push context (config generation) and bumps the host's endpoint version.
    expect(model.pushContext()).toBe(before);
    expect(model.pushContext().endpointVersion(REVIEWS)).not.toBe('0');
  });

  it('scopes EDS pushes to connections watching a changed hostname', () => {
    const scope = watchingHosts(new Set([REVIEWS]));
    const eds = TypeUrl.ClusterLoadAssignment;
    expect(scope(fakeConnection(grpcNode(), { [eds]: [`outbound|9080|v1|${REVIEWS}`] }))).toBe(true);
    expect(
      scope(fakeConnection(grpcNode(), { [eds]: ['outbound|9080||ratings.bookinfo.svc.cluster.local'] })),
    ).toBe(false);
    expect(scope(fakeConnection(grpcNode(), {}))).toBe(false);
    // The host is the name's last field, whole; a malformed name is nobody's cluster.
    for (const name of [`outbound|9080|v1|x${REVIEWS}`, `a|outbound|9080|v1|${REVIEWS}`, REVIEWS]) {
      expect(scope(fakeConnection(grpcNode(), { [eds]: [name] }))).toBe(false);
    }
    // Many hosts (remembered per name rather than compared by ending) answer the same.
    const many = watchingHosts(new Set([REVIEWS, ...Array.from({ length: 20 }, (_, i) => `h${i}.example`)]));
    expect(many(fakeConnection(grpcNode(), { [eds]: [`outbound|9080|v1|${REVIEWS}`] }))).toBe(true);
    expect(many(fakeConnection(grpcNode(), { [eds]: [`outbound|9080|v1|x${REVIEWS}`] }))).toBe(false);
  });

  it('builds proxyless endpoints (and routes) once per push for the same namespace (and labels) and names', async () => {
    const model = new MeshModel();
    applyDocs(model, bookinfoDocs());
    const xds = new PilotXds({ model, logger });
    const eds = xds.xdsGenerators()[TypeUrl.ClusterLoadAssignment];
    const names = [`outbound|9080|v1|${REVIEWS}`, `outbound|9080|v2|${REVIEWS}`];
    const built: string[] = [];
    const grpc = (
      xds as unknown as { generators: Map<string, { buildEndpoints: (r: unknown) => unknown }> }
    ).generators.get('grpc')!;
    const original = grpc.buildEndpoints.bind(grpc);
    grpc.buildEndpoints = (request) => {
      built.push((request as { proxy: { namespace: string } }).proxy.namespace);
      return original(request);
    };
    const cache = new EncodedResourceCache();
    const generate = (push: ReturnType<typeof pushRequest>, namespace: string, order: string[]) =>
      eds({
        connection: fakeConnection(
          grpcNode(`sidecar~10.0.0.1~c.${namespace}~${namespace}.svc.cluster.local`),
        ),
        watched: { typeUrl: TypeUrl.ClusterLoadAssignment, wildcard: false, names: new Set(order) },
        push,
        cache,
      });
    const push = pushRequest({ full: false, types: [TypeUrl.ClusterLoadAssignment], reason: 'endpoint' });
    const first = await generate(push, 'bookinfo', names);
    expect(first.map((e) => e.name)).toEqual(names);
    // Another proxy of the namespace, naming the same clusters in another order, gets the very same entries.
    expect(await generate(push, 'bookinfo', [...names].reverse())).toBe(first);
    // Another namespace sees other DestinationRules: built for it. The next push builds afresh.
    await generate(push, 'other', names);
    const next = pushRequest({ full: false, types: [TypeUrl.ClusterLoadAssignment], reason: 'endpoint' });
    expect(await generate(next, 'bookinfo', names)).not.toBe(first);
    expect(built).toEqual(['bookinfo', 'other', 'bookinfo']);

    // Route configurations also depend on the proxy's labels (sourceLabels matches): shared by equal labels only.
    const rds = xds.xdsGenerators()[TypeUrl.RouteConfiguration];
    const routes = (labels: Record<string, string>) =>
      rds({
        connection: fakeConnection(
          grpcNode('sidecar~10.0.0.1~c.bookinfo~bookinfo.svc.cluster.local', { LABELS: labels }),
        ),
        watched: {
          typeUrl: TypeUrl.RouteConfiguration,
          wildcard: false,
          names: new Set([`${REVIEWS}:9080`]),
        },
        push,
        cache,
      });
    const v1 = await routes({ app: 'productpage', version: 'v1' });
    expect(v1.map((e) => e.name)).toEqual([`${REVIEWS}:9080`]);
    expect(await routes({ version: 'v1', app: 'productpage' })).toBe(v1);
    expect(await routes({ app: 'productpage', version: 'v2' })).not.toBe(v1);
  });

  it('serves Envoy sidecars and gateways with the Envoy generator, and builds config dumps', async () => {
    const model = new MeshModel();
    applyDocs(model, bookinfoDocs());
    const xds = new PilotXds({ model, logger });
    const generators = xds.xdsGenerators();
    const watched = { typeUrl: TypeUrl.Listener, wildcard: true, names: new Set<string>() };
    const envoy = fakeConnection(
      grpcNode('sidecar~10.0.0.9~envoy.bookinfo~bookinfo.svc.cluster.local', { GENERATOR: '' }),
      { [TypeUrl.Listener]: [] },
    );
    const envoyContext = { connection: envoy, watched, push: undefined as never, cache: undefined as never };
    expect((await generators[TypeUrl.Listener](envoyContext)).map((e) => e.name)).toEqual([
      'virtualOutbound',
      '0.0.0.0_9080',
      'virtualInbound',
    ]);
    expect(xds.configGeneratorFor(envoy)?.name).toBe('envoy');

    const gateway = fakeConnection(
      grpcNode('router~10.0.0.8~ingress.istio-system~istio-system.svc.cluster.local', { GENERATOR: '' }),
      { [TypeUrl.Listener]: [] },
    );
    const context = { connection: gateway, watched, push: undefined as never, cache: undefined as never };
    // A gateway gets the Envoy generator; selected by no Gateway resource, it has no listeners.
    expect(await generators[TypeUrl.Listener](context)).toEqual([]);
    expect(xds.configGeneratorFor(gateway)?.name).toBe('envoy');

    const client = fakeConnection(grpcNode(), {
      [TypeUrl.Listener]: [`${REVIEWS}:9080`],
      [TypeUrl.Cluster]: [`outbound|9080|v1|${REVIEWS}`],
    });
    const dump = configDump.ConfigDump.toJSON(xds.configDump(client)!) as {
      configs: {
        '@type': string;
        dynamicListeners?: { name: string }[];
        dynamicActiveClusters?: unknown[];
      }[];
    };
    expect(dump.configs.map((c) => c['@type'])).toEqual([
      'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
      'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
    ]);
    expect(dump.configs[1].dynamicListeners?.map((l) => l.name)).toEqual([`${REVIEWS}:9080`]);
    expect(JSON.stringify(dump.configs[0])).toContain(
      '"@type":"type.googleapis.com/envoy.config.cluster.v3.Cluster"',
    );
  });
});

describe('@grpc/grpc-js-xds against pilot', () => {
  const servers: grpc.Server[] = [];
  let xdsServer: GrpcServer;
  let ads: AdsServer;
  let model: MeshModel;
  let client: grpc.Client;
  let ports: Record<string, number>;

  beforeAll(async () => {
    const v1 = await startWhoServer('reviews-v1');
    const v2 = await startWhoServer('reviews-v2');
    servers.push(v1.server, v2.server);
    ports = { 'reviews-v1': v1.port, 'reviews-v2': v2.port };
    model = new MeshModel();
    applyDocs(model, withPorts(bookinfoDocs(), ports));
    const xds = new PilotXds({ model, logger });
    ads = new AdsServer({ logger, generators: xds.xdsGenerators(), debounce: { afterMs: 10, maxMs: 100 } });
    xds.wire(ads);
    xdsServer = new GrpcServer({ name: 'xds', host: '127.0.0.1', port: 0, portOption: '--port', logger });
    xdsServer.addService(ads.definition, ads.implementation);
    const xdsPort = await xdsServer.start();
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [
        {
          server_uri: `127.0.0.1:${xdsPort}`,
          channel_creds: [{ type: 'insecure' }],
          server_features: ['xds_v3'],
        },
      ],
      node: {
        id: 'sidecar~127.0.0.1~productpage-1.bookinfo~bookinfo.svc.cluster.local',
        locality: { region: 'local', zone: 'zone-a' },
        metadata: { GENERATOR: 'grpc' },
      },
    });
    registerXdsResolver();
    client = new WhoClient(`xds:///${REVIEWS}:9080`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    ads.close();
    await xdsServer.stop(1000);
    for (const s of servers) s.forceShutdown();
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
  });

  async function tally(n: number, metadata: Record<string, string> = {}): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const who = await callWho(client, metadata, 10_000);
      out[who] = (out[who] ?? 0) + 1;
    }
    return out;
  }

  it('routes by the VirtualService: end-user tester to v2, the rest about 80/20, and every type ACKed', async () => {
    expect(await tally(10, { 'end-user': 'tester' })).toEqual({ 'reviews-v2': 10 });
    const split = await tally(200);
    expect(split['reviews-v1']).toBeGreaterThan(120);
    expect(split['reviews-v2']).toBeGreaterThan(15);
    const status = ads.status()[0];
    for (const t of [
      TypeUrl.Listener,
      TypeUrl.RouteConfiguration,
      TypeUrl.Cluster,
      TypeUrl.ClusterLoadAssignment,
    ]) {
      expect(status.types.find((s) => s.typeUrl === t)).toMatchObject({ state: 'ACKED' });
    }
    expect(status.types.every((t) => !t.nack)).toBe(true);
  }, 30_000);

  it('follows a VirtualService change (all to v2) and an endpoint change (v2 moves to a new server)', async () => {
    const docs = withPorts(bookinfoDocs(), ports).map((d) =>
      d.kind === 'VirtualService'
        ? {
            ...d,
            spec: { hosts: [REVIEWS], http: [{ route: [{ destination: { host: REVIEWS, subset: 'v2' } }] }] },
          }
        : d,
    );
    applyDocs(
      model,
      docs.filter((d) => d.kind === 'VirtualService'),
    );
    await waitFor(
      'traffic to move to v2',
      async () => (await tally(5))['reviews-v2'] === 5 || undefined,
      10_000,
      50,
    );

    const v2b = await startWhoServer('reviews-v2b');
    servers.push(v2b.server);
    applyDocs(
      model,
      withPorts(docs, { ...ports, 'reviews-v2': v2b.port }).filter((d) => d.kind === 'WorkloadEntry'),
      [WE],
    );
    await waitFor(
      'traffic to reach the moved endpoint',
      async () => (await tally(5))['reviews-v2b'] === 5 || undefined,
      10_000,
      50,
    );
  }, 30_000);
});

// Scoped pushes (Istio's ConfigsUpdated): a change to one host's config, service or endpoints regenerates only
// that host's resources, and only for the proxies watching them. Proven over real ADS streams against pilot's
// generators, with raw SotW clients that ACK everything and record what they are sent.
import { credentials } from '@grpc/grpc-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { ads, core, discovery } from '@flotilla/proto';
import { GrpcServer, createLogger } from '@flotilla/service-kit';
import { waitFor } from '@flotilla/testing';
import { AdsServer, TypeUrl } from '@flotilla/xds';
import type { Generator } from '@flotilla/xds';
import { MeshModel } from './mesh-model';
import { REVIEWS, applyDocs, bookinfoDocs, grpcNode } from './testing/bookinfo';
import { PilotXds } from './xds';

const logger = createLogger('pilot-push-scope-test', 'silent');
const RATINGS = 'ratings.bookinfo.svc.cluster.local';
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.RouteConfiguration;
const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.ClusterLoadAssignment;
const SHORT: Record<string, string> = { [LDS]: 'LDS', [RDS]: 'RDS', [CDS]: 'CDS', [EDS]: 'EDS' };

type Doc = ReturnType<typeof bookinfoDocs>[number];

/** What a proxyless gRPC client dialing `host` subscribes to once it has followed LDS → RDS → CDS → EDS. */
function subscriptionsFor(host: string): Map<string, string[]> {
  const clusters = ['', 'v1', 'v2'].map((subset) => `outbound|9080|${subset}|${host}`);
  return new Map([
    [LDS, [`${host}:9080`]],
    [RDS, [`${host}:9080`]],
    [CDS, clusters],
    [EDS, clusters],
  ]);
}

/** A raw SotW proxy: subscribes, ACKs every response, and records each as "<type> <names>". */
class Proxy {
  readonly received: string[] = [];
  private readonly client: InstanceType<typeof ads.AggregatedDiscoveryServiceClient>;
  private readonly stream: ClientDuplexStream<discovery.DiscoveryRequest, discovery.DiscoveryResponse>;

  constructor(
    address: string,
    readonly id: string,
    private readonly subscriptions: Map<string, string[]>,
    /** Node metadata; proxyless gRPC (GENERATOR=grpc) unless given. */
    private readonly envoy = false,
  ) {
    this.client = new ads.AggregatedDiscoveryServiceClient(address, credentials.createInsecure());
    this.stream = this.client.streamAggregatedResources();
    this.stream.on('error', () => undefined);
    this.stream.on('data', (response: discovery.DiscoveryResponse) => {
      const names = response.resources.map((r) => nameOf(r.typeUrl, r.value)).sort();
      this.received.push(`${SHORT[response.typeUrl]} ${names.join(',')}`);
      this.stream.write(
        discovery.DiscoveryRequest.fromPartial({
          typeUrl: response.typeUrl,
          versionInfo: response.versionInfo,
          responseNonce: response.nonce,
          resourceNames: this.subscriptions.get(response.typeUrl) ?? [],
        }),
      );
    });
    let first = true;
    for (const [typeUrl, resourceNames] of subscriptions) {
      const nodeId = `sidecar~10.0.0.1~${id}.bookinfo~bookinfo.svc.cluster.local`;
      const node = !first ? undefined : this.envoy ? core.Node.fromPartial({ id: nodeId }) : grpcNode(nodeId);
      this.stream.write(discovery.DiscoveryRequest.fromPartial({ node, typeUrl, resourceNames }));
      first = false;
    }
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

/** The name inside an encoded resource (field 1 of Listener, RouteConfiguration, Cluster, ClusterLoadAssignment). */
function nameOf(_typeUrl: string, value: Uint8Array): string {
  // Field 1, wire type 2: tag 0x0a, then a one-byte length for the short names used here.
  if (value[0] !== 0x0a) return '?';
  return Buffer.from(value.subarray(2, 2 + value[1])).toString('utf8');
}

interface Harness {
  model: MeshModel;
  ads: AdsServer;
  /** The xDS server's address, for more clients. */
  address: string;
  /** Generator runs by "<proxy id> <type>", counted since the last `reset`. */
  runs: Map<string, number>;
  reviewsProxy: Proxy;
  ratingsProxy: Proxy;
  /** Forgets what was received and generated so far. */
  reset(): void;
  /** Waits until pushes settle, then returns what each proxy received since the last reset. */
  settle(): Promise<{ reviews: string[]; ratings: string[] }>;
  stop(): Promise<void>;
}

async function start(): Promise<Harness> {
  const model = new MeshModel();
  applyDocs(model, bookinfoDocs());
  const xds = new PilotXds({ model, logger });
  const runs = new Map<string, number>();
  const counted: Record<string, Generator> = {};
  for (const [typeUrl, generate] of Object.entries(xds.xdsGenerators())) {
    counted[typeUrl] = (context) => {
      const key = `${context.connection.node.id.split('~')[2].split('.')[0]} ${SHORT[typeUrl]}`;
      runs.set(key, (runs.get(key) ?? 0) + 1);
      return generate(context);
    };
  }
  const server = new AdsServer({ logger, generators: counted, debounce: { afterMs: 0 } });
  xds.wire(server);
  const grpcServer = new GrpcServer({
    name: 'xds',
    host: '127.0.0.1',
    port: 0,
    portOption: '--port',
    logger,
  });
  grpcServer.addService(server.definition, server.implementation);
  await grpcServer.start();
  const reviewsProxy = new Proxy(grpcServer.address, 'reviews-client', subscriptionsFor(REVIEWS));
  const ratingsProxy = new Proxy(grpcServer.address, 'ratings-client', subscriptionsFor(RATINGS));
  await waitFor(
    'both proxies to receive all four types',
    () =>
      [reviewsProxy, ratingsProxy].every((p) => new Set(p.received.map((r) => r.split(' ')[0])).size === 4),
    5000,
    10,
  );
  const harness: Harness = {
    model,
    ads: server,
    address: grpcServer.address,
    runs,
    reviewsProxy,
    ratingsProxy,
    reset() {
      runs.clear();
      reviewsProxy.received.length = 0;
      ratingsProxy.received.length = 0;
    },
    async settle() {
      await server.settle();
      // Responses written by the server still have to cross the connection.
      await new Promise((r) => setTimeout(r, 150));
      return { reviews: [...reviewsProxy.received], ratings: [...ratingsProxy.received] };
    },
    async stop() {
      reviewsProxy.close();
      ratingsProxy.close();
      server.close();
      await grpcServer.stop(1000);
    },
  };
  await harness.settle();
  harness.reset();
  return harness;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
});

async function harness(): Promise<Harness> {
  const h = await start();
  harnesses.push(h);
  return h;
}

type Spec = Doc['spec'];

/** Bookinfo's objects of `kind`, with the spec of the one named `name` replaced by `change` of it. */
function bookinfoWith(kind: string, name: string, change: (spec: Spec) => Spec): Doc[] {
  return bookinfoDocs()
    .filter((d) => d.kind === kind)
    .map((d) => (d.metadata.name === name ? { ...d, spec: change(d.spec) } : d));
}

function withReviewsVirtualService(spec: Spec): Doc[] {
  return bookinfoWith('VirtualService', 'reviews', () => spec);
}

describe('scoped pushes', () => {
  it('sends a VirtualService change for reviews as one route config to reviews’ watchers, and nothing to others', async () => {
    const h = await harness();
    applyDocs(
      h.model,
      withReviewsVirtualService({
        hosts: [REVIEWS],
        http: [{ route: [{ destination: { host: REVIEWS, subset: 'v2' } }] }],
      }),
    );
    const received = await h.settle();
    expect(received.reviews).toEqual([`RDS ${REVIEWS}:9080`]);
    expect(received.ratings).toEqual([]);
    // Not only was nothing sent to the ratings proxy: nothing was generated for it, and for the reviews proxy
    // only routes (a VirtualService without fault injection shapes nothing else).
    expect(Object.fromEntries(h.runs)).toEqual({ 'reviews-client RDS': 1 });
  });

  it('sends only the route when a VirtualService starts injecting faults (listeners always carry the fault filter)', async () => {
    const h = await harness();
    applyDocs(
      h.model,
      withReviewsVirtualService({
        hosts: [REVIEWS],
        http: [
          {
            fault: { abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 100 } } },
            route: [{ destination: { host: REVIEWS, subset: 'v2' } }],
          },
        ],
      }),
    );
    const received = await h.settle();
    expect(received.reviews).toEqual([`RDS ${REVIEWS}:9080`]);
    expect(received.ratings).toEqual([]);
  });

  it('sends an endpoint change of reviews as EDS to reviews’ watchers only, with only the changed assignments', async () => {
    const h = await harness();
    const workloads = bookinfoWith('WorkloadEntry', 'reviews-v2', (spec) => ({
      ...spec,
      address: '127.0.0.9',
    }));
    applyDocs(h.model, workloads);
    const received = await h.settle();
    // The v2 subset and the whole service changed; v1's assignment did not and is not resent.
    const changed = [`outbound|9080||${REVIEWS}`, `outbound|9080|v2|${REVIEWS}`].sort();
    expect(received.reviews).toEqual([`EDS ${changed.join(',')}`]);
    expect(received.ratings).toEqual([]);
    expect(Object.fromEntries(h.runs)).toEqual({ 'reviews-client EDS': 1 });
  });

  it('sends a DestinationRule change for reviews as CDS to reviews’ watchers only', async () => {
    const h = await harness();
    const rules = bookinfoWith('DestinationRule', 'reviews', (spec) => ({
      ...spec,
      trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true } } },
    }));
    applyDocs(h.model, rules);
    const received = await h.settle();
    expect(received.reviews.map((r) => r.split(' ')[0]).sort()).toEqual(['CDS', 'RDS']);
    expect(received.ratings).toEqual([]);
    expect([...h.runs.keys()].every((k) => k.startsWith('reviews-client'))).toBe(true);
  });

  it('regenerates a listener subscribed by a short name ("reviews:9080" from bookinfo) when its service changes', async () => {
    const h = await harness();
    const short = new Proxy(h.address, 'short-client', new Map([[LDS, ['reviews:9080']]]));
    try {
      await waitFor('the short-named listener', () => short.received.includes('LDS reviews:9080'), 5000, 10);
      await h.settle();
      h.reset();
      const services = bookinfoWith('ServiceEntry', 'reviews', (spec) => ({
        ...spec,
        ports: [
          { number: 9080, name: 'grpc', protocol: 'GRPC' },
          { number: 9081, name: 'grpc-admin', protocol: 'GRPC' },
        ],
      }));
      applyDocs(h.model, services);
      await h.settle();
      // Found by its short name (completed with the proxy's namespace), as the reviews proxy by its full one.
      expect(h.runs.get('short-client LDS')).toBe(1);
      expect(h.runs.get('reviews-client LDS')).toBe(1);
      expect(h.runs.get('ratings-client LDS')).toBeUndefined();
    } finally {
      short.close();
    }
  });

  it('regenerates for every proxy on a change it cannot scope (an AuthorizationPolicy)', async () => {
    const h = await harness();
    applyDocs(h.model, [
      {
        apiVersion: 'security.istio.io/v1beta1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-all', namespace: 'bookinfo' },
        spec: {},
      },
    ]);
    await h.settle();
    expect(h.runs.get('reviews-client CDS')).toBe(1);
    expect(h.runs.get('ratings-client CDS')).toBe(1);
  });
});

describe('MeshModel change scopes', () => {
  it('names the hosts a VirtualService or DestinationRule change concerns, and moves only their versions on', () => {
    const model = new MeshModel();
    applyDocs(model, bookinfoDocs());
    const changes: unknown[] = [];
    model.onChange((c) => changes.push(c));
    const reviewsBefore = model.hostVersion(REVIEWS);
    const ratingsBefore = model.hostVersion(RATINGS);

    // A VirtualService for ratings that also sends some traffic nowhere new: it concerns ratings alone.
    applyDocs(model, [
      ...bookinfoDocs().filter((d) => d.kind === 'VirtualService'),
      {
        apiVersion: 'networking.istio.io/v1alpha3',
        kind: 'VirtualService',
        metadata: { name: 'ratings', namespace: 'bookinfo' },
        spec: { hosts: ['ratings'], http: [{ route: [{ destination: { host: 'ratings' } }] }] },
      },
    ]);
    expect(changes).toEqual([
      {
        kind: 'config',
        reason: 'config',
        scope: { hosts: new Set([RATINGS]), outputs: new Set(['routes']), inbound: false },
      },
    ]);
    expect(model.hostVersion(RATINGS)).not.toBe(ratingsBefore);
    expect(model.hostVersion(REVIEWS)).toBe(reviewsBefore);

    // A DestinationRule for ratings also concerns the routes of hosts whose VirtualServices lead to ratings.
    changes.length = 0;
    applyDocs(
      model,
      [
        ...bookinfoDocs().filter((d) => d.kind === 'VirtualService'),
        {
          apiVersion: 'networking.istio.io/v1alpha3',
          kind: 'VirtualService',
          metadata: { name: 'reviews-to-ratings', namespace: 'bookinfo' },
          spec: { hosts: ['details'], http: [{ route: [{ destination: { host: 'ratings' } }] }] },
        },
      ],
      [],
    );
    changes.length = 0;
    applyDocs(model, [
      ...bookinfoDocs().filter((d) => d.kind === 'DestinationRule'),
      {
        apiVersion: 'networking.istio.io/v1alpha3',
        kind: 'DestinationRule',
        metadata: { name: 'ratings', namespace: 'bookinfo' },
        spec: { host: RATINGS, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
      },
    ]);
    expect(changes).toEqual([
      {
        kind: 'config',
        reason: 'config',
        scope: {
          hosts: new Set([RATINGS, 'details.bookinfo.svc.cluster.local']),
          outputs: new Set(['routes', 'clusters', 'endpoints']),
          inbound: false,
        },
      },
    ]);
  });

  it('treats a wildcard host as every known service it matches', () => {
    const model = new MeshModel();
    applyDocs(model, bookinfoDocs());
    const changes: { kind: string; scope?: { hosts: ReadonlySet<string> } }[] = [];
    model.onChange((c) => changes.push(c));
    applyDocs(model, [
      ...bookinfoDocs().filter((d) => d.kind === 'VirtualService'),
      {
        apiVersion: 'networking.istio.io/v1alpha3',
        kind: 'VirtualService',
        metadata: { name: 'all', namespace: 'bookinfo' },
        spec: {
          hosts: ['*.bookinfo.svc.cluster.local'],
          http: [{ timeout: '1s', route: [{ destination: { host: 'ratings' } }] }],
        },
      },
    ]);
    expect([...changes[0].scope!.hosts].sort()).toEqual([
      'details.bookinfo.svc.cluster.local',
      'productpage.bookinfo.svc.cluster.local',
      RATINGS,
      REVIEWS,
    ]);
  });
});

describe('scoped pushes to Envoy sidecars', () => {
  it('leaves endpoints alone for a VirtualService change, and regenerates every type for a DestinationRule one', async () => {
    const h = await harness();
    // An Envoy sidecar: wildcard listeners and clusters, the route configuration of port 9080, reviews' endpoints.
    const envoy = new Proxy(
      h.address,
      'envoy-sidecar',
      new Map([
        [LDS, []],
        [CDS, []],
        [RDS, ['9080']],
        [EDS, [`outbound|9080||${REVIEWS}`]],
      ]),
      true,
    );
    try {
      await waitFor(
        'the Envoy sidecar to receive all four types',
        () => new Set(envoy.received.map((r) => r.split(' ')[0])).size === 4,
        5000,
        10,
      );
      await h.settle();
      h.reset();
      envoy.received.length = 0;
      applyDocs(
        h.model,
        withReviewsVirtualService({
          hosts: [REVIEWS],
          http: [{ route: [{ destination: { host: REVIEWS, subset: 'v2' } }] }],
        }),
      );
      await h.settle();
      const envoyRuns = () =>
        [...h.runs]
          .filter(([k]) => k.startsWith('envoy-sidecar'))
          .map(([k]) => k.split(' ')[1])
          .sort();
      // Endpoints are not regenerated. Clusters are, because a wildcard subscription's set may always change
      // (libs/xds regenerates wildcard types on every push); their content is unchanged and not resent.
      expect(envoyRuns()).toEqual(['CDS', 'LDS', 'RDS']);
      expect(envoy.received.filter((r) => r.startsWith('CDS') || r.startsWith('EDS'))).toEqual([]);

      h.reset();
      const rules = bookinfoWith('DestinationRule', 'reviews', (spec) => ({
        ...spec,
        trafficPolicy: { loadBalancer: { simple: 'RANDOM' } },
      }));
      applyDocs(h.model, rules);
      await h.settle();
      expect(envoyRuns()).toEqual(['CDS', 'EDS', 'LDS', 'RDS']);
    } finally {
      envoy.close();
    }
  });
});

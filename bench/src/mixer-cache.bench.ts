// The mixer client's check cache on repeated bookinfo traffic (issue 6, goal: hit rate >= 90%).
//
// A real mixer (mixer-core's runtime behind its gRPC service, in this process) runs a policy whose rules read a
// few attributes — x-user for a denier, source.principal for an allow list guarding ratings, the path for an
// /admin denier — while every request also carries attributes no rule reads (request id, time, source address,
// user agent, size). libs/mixer-client caches each answer under the attributes mixer says it referenced, so the
// unread ones must not spoil the cache.
//
// Traffic: page views of bookinfo (ingress → productpage → details and reviews, reviews v2/v3 → ratings) by a few
// users over ten products, plus a stray caller of ratings that is not on its allow list and a rare banned user,
// driven by 8 concurrent browsers on a simulated clock (one page view every 50 ms, so entries expire as they
// would over the same span of real traffic). Baseline in the same run: the identical traffic through a client
// with its cache off. Printed: hit rate, Check RPCs saved, per-check latency of cache hits against remote checks,
// and that every decision equals the uncached one.
import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '@flotilla/mixer-adapter-sdk';
import type { Adapter } from '@flotilla/mixer-adapter-sdk';
import { denierAdapter } from '@flotilla/mixer-adapter-denier';
import { listAdapter } from '@flotilla/mixer-adapter-list';
import { MixerClient, attributesOf, grpcTransport } from '@flotilla/mixer-client';
import type { Attributes } from '@flotilla/mixer-client';
import { MixerRuntime, addMixerServices, resourcesFromYaml } from '@flotilla/mixer-core';
import { mixerService } from '@flotilla/proto';

const PAGE_VIEWS = Number(process.env.BENCH_PAGE_VIEWS ?? 6000);
const BROWSERS = 8;
const VIEW_EVERY_MS = 50;

const POLICY = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: denybanned }
spec:
  compiledAdapter: denier
  params: { status: { code: 7, message: banned user }, validDuration: 10s, validUseCount: 1000 }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: denyrequest }
spec: { compiledTemplate: checknothing }
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: banned-users }
spec:
  match: request.headers["x-user"] == "banned"
  actions: [{ handler: denybanned, instances: [denyrequest] }]
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: denyadmin }
spec:
  compiledAdapter: denier
  params: { status: { code: 7, message: no admin pages }, validDuration: 30s }
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: admin-pages }
spec:
  match: (request.path | "/").startsWith("/admin")
  actions: [{ handler: denyadmin, instances: [denyrequest] }]
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: ratingscallers }
spec:
  compiledAdapter: list
  params:
    entryType: STRINGS
    overrides:
    - cluster.local/ns/default/sa/bookinfo-reviews
    - cluster.local/ns/default/sa/bookinfo-productpage
    cachingInterval: 30s
    cachingUseCount: 10000
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: sourceprincipal }
spec:
  compiledTemplate: listentry
  params: { value: source.principal | "none" }
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: ratings-callers }
spec:
  match: destination.service.host == "ratings.default.svc.cluster.local"
  actions: [{ handler: ratingscallers, instances: [sourceprincipal] }]
`;

/** mulberry32: a small seeded generator, so both runs see the same traffic. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USERS = ['jason', 'alice', 'bob', 'carol', undefined]; // undefined: not signed in (no x-user header)
const SA = (name: string) => `cluster.local/ns/default/sa/${name}`;
const HOST = (name: string) => `${name}.default.svc.cluster.local`;

interface Hop {
  source: string;
  sourcePods: number;
  destination: string;
  path: string;
}

/** One page view's service-to-service calls, each a Check. */
function pageView(rnd: () => number): { user: string | undefined; hops: Hop[] } {
  const r = rnd();
  const user = r < 0.01 ? 'banned' : USERS[Math.floor(rnd() * USERS.length)];
  const product = Math.floor(rnd() * 10);
  const hops: Hop[] = [
    { source: 'istio-ingressgateway', sourcePods: 2, destination: 'productpage', path: '/productpage' },
    { source: 'bookinfo-productpage', sourcePods: 3, destination: 'details', path: `/details/${product}` },
    { source: 'bookinfo-productpage', sourcePods: 3, destination: 'reviews', path: `/reviews/${product}` },
  ];
  if (rnd() < 2 / 3)
    hops.push({
      source: 'bookinfo-reviews',
      sourcePods: 3,
      destination: 'ratings',
      path: `/ratings/${product}`,
    });
  if (rnd() < 0.02)
    hops.push({ source: 'sleep', sourcePods: 1, destination: 'ratings', path: `/ratings/${product}` });
  if (rnd() < 0.01)
    hops.push({
      source: 'istio-ingressgateway',
      sourcePods: 2,
      destination: 'productpage',
      path: '/admin/users',
    });
  return { user, hops };
}

/** Every request of the run, in order, with the simulated time it is sent at. */
function traffic(): { at: number; attrs: Attributes }[] {
  const rnd = random(2019);
  const out: { at: number; attrs: Attributes }[] = [];
  let requestId = 0;
  for (let v = 0; v < PAGE_VIEWS; v++) {
    const at = v * VIEW_EVERY_MS;
    const { user, hops } = pageView(rnd);
    for (const hop of hops) {
      const pod = Math.floor(rnd() * hop.sourcePods);
      out.push({
        at,
        attrs: attributesOf({
          'source.principal': SA(hop.source),
          'source.ip': new Uint8Array([10, 1, hop.source.length, pod + 1]),
          'source.labels': { app: hop.source, pod: `${hop.source}-${pod}` },
          'destination.service.host': HOST(hop.destination),
          'destination.port': 9080,
          'request.path': hop.path,
          'request.method': 'GET',
          'request.size': Math.floor(rnd() * 400),
          'request.time': new Date(1_700_000_000_000 + at),
          'request.headers': {
            ':authority': `${hop.destination}:9080`,
            ':path': hop.path,
            'x-request-id': `req-${requestId++}`,
            'user-agent': `bookinfo-${Math.floor(rnd() * 3)}`,
            ...(user ? { 'x-user': user } : {}),
          },
          'context.protocol': 'http',
        }),
      });
    }
  }
  return out;
}

interface RunResult {
  codes: number[];
  remote: number;
  hitNs: number[];
  missNs: number[];
  wallMs: number;
}

async function run(address: string, requests: { at: number; attrs: Attributes }[], cache: boolean) {
  const stub = new mixerService.MixerClient(address, grpc.credentials.createInsecure());
  let clock = 0;
  const client = new MixerClient(grpcTransport(stub, { newMetadata: () => new grpc.Metadata() }), {
    checkCache: cache ? {} : false,
    now: () => 1_700_000_000_000 + clock,
  });
  const result: RunResult = {
    codes: new Array<number>(requests.length),
    remote: 0,
    hitNs: [],
    missNs: [],
    wallMs: 0,
  };
  let next = 0;
  const started = process.hrtime.bigint();
  const browser = async () => {
    while (next < requests.length) {
      const i = next++;
      clock = Math.max(clock, requests[i].at);
      const t0 = process.hrtime.bigint();
      const outcome = await client.check(requests[i].attrs);
      const ns = Number(process.hrtime.bigint() - t0);
      (outcome.cached ? result.hitNs : result.missNs).push(ns);
      result.codes[i] = outcome.code;
    }
  };
  await Promise.all(Array.from({ length: BROWSERS }, browser));
  result.wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  result.remote = client.remoteChecks;
  await client.close();
  stub.close();
  return result;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

async function main(): Promise<void> {
  const runtime = new MixerRuntime({
    adapters: new Map<string, Adapter>([
      ['denier', denierAdapter as Adapter],
      ['list', listAdapter as Adapter],
    ]),
    logger: silentLogger,
  });
  const { resources, errors } = resourcesFromYaml(POLICY, 'bookinfo-policy.yaml', 'istio-system');
  const applied = await runtime.apply(resources);
  if (errors.length || applied.errors.length) throw new Error([...errors, ...applied.errors].join('\n'));
  const server = new grpc.Server();
  addMixerServices(server, runtime, { error: (o) => console.error(o) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;
  const requests = traffic();

  // Warm-up (connections, JIT) on a slice, then the two measured runs over the whole traffic.
  await run(address, requests.slice(0, 2000), false);
  await run(address, requests.slice(0, 2000), true);
  const uncached = await run(address, requests, false);
  const cached = await run(address, requests, true);

  const disagreements = requests.filter((_, i) => uncached.codes[i] !== cached.codes[i]).length;
  const denied = uncached.codes.filter((c) => c !== 0).length;
  if (denied === 0) throw new Error('the policy denied nothing: the traffic does not exercise it');
  if (uncached.remote !== requests.length) throw new Error('the uncached client answered from somewhere');
  const hits = cached.hitNs.length;
  const us = (ns: number) => (ns / 1000).toFixed(0).padStart(5);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `Check cache on bookinfo traffic: ${fmt(PAGE_VIEWS)} page views (${fmt(requests.length)} Checks, ` +
      `${((PAGE_VIEWS * VIEW_EVERY_MS) / 1000).toFixed(0)} s simulated), ${BROWSERS} concurrent browsers`,
  );
  console.log(
    `  hit rate                 ${((100 * hits) / requests.length).toFixed(1)}%  (${fmt(hits)} hits; goal >= 90%)`,
  );
  console.log(
    `  Check RPCs               ${fmt(cached.remote)} with cache vs ${fmt(uncached.remote)} without: ` +
      `${fmt(uncached.remote - cached.remote)} saved (${((100 * (uncached.remote - cached.remote)) / uncached.remote).toFixed(1)}%)`,
  );
  console.log(
    `  decisions                ${fmt(denied)} denied; ${disagreements} differ from the uncached run (must be 0)`,
  );
  console.log(`  per-check latency (µs)   mean  p50  p99`);
  console.log(
    `    uncached (baseline)    ${us(mean(uncached.missNs))} ${us(percentile(uncached.missNs, 50))} ${us(percentile(uncached.missNs, 99))}`,
  );
  console.log(
    `    cache hit              ${us(mean(cached.hitNs))} ${us(percentile(cached.hitNs, 50))} ${us(percentile(cached.hitNs, 99))}` +
      `   mean ratio ${(mean(cached.hitNs) / mean(uncached.missNs)).toFixed(3)}`,
  );
  console.log(
    `    cache miss (remote)    ${us(mean(cached.missNs))} ${us(percentile(cached.missNs, 50))} ${us(percentile(cached.missNs, 99))}`,
  );
  console.log(
    `  wall time                ${fmt(cached.wallMs)} ms with cache vs ${fmt(uncached.wallMs)} ms without: ` +
      `throughput ratio ${(uncached.wallMs / cached.wallMs).toFixed(1)}`,
  );
  server.forceShutdown();
  await runtime.close();
  if (disagreements > 0) process.exitCode = 1;
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

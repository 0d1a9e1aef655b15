// Pilot's full-push generation: every xDS output (LDS, RDS, CDS, EDS) for M proxyless gRPC proxies of one
// namespace after a config change, with the encoded-resource cache shared across proxies (pilot's default) against
// building and encoding every resource for every proxy. Each operation is one whole push: a new config generation,
// then all four types for all M proxies. Pilot is an app, so its built generators are loaded from
// apps/pilot/dist (the `pilot` target builds it first) and typed here by what the benchmark uses.
import { resolve } from 'node:path';
import { mcpResourceOf } from '@flotilla/mcp';
import type { McpResource } from '@flotilla/mcp';
import { core } from '@flotilla/proto';
import { EncodedResourceCache } from '@flotilla/xds';
import { bench, formatResults } from './harness';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 100);
const PROXIES = Number(process.env.BENCH_PROXIES ?? 100);
const PILOT_DIST = resolve(__dirname, '../../apps/pilot/dist');

interface Entry {
  name: string;
  resource: { value: Uint8Array };
}
interface Generator {
  buildListeners(r: unknown): Entry[];
  buildRoutes(r: unknown): Entry[];
  buildClusters(r: unknown): Entry[];
  buildEndpoints(r: unknown): Entry[];
}
interface PilotModule {
  GrpcGenerator: new () => Generator;
  PushContext: new (
    version: string,
    registry: unknown,
    store: unknown,
    domainSuffix: string,
    endpointVersion: (h: string) => string,
  ) => unknown;
  proxyOf(node: core.Node): unknown;
}
interface ModelModule {
  MeshModel: new () => { registry: unknown; store: unknown; apply(c: string, r: McpResource[]): void };
}

const pilot = require(`${PILOT_DIST}/generators/index.js`) as PilotModule;
const { MeshModel } = require(`${PILOT_DIST}/mesh-model.js`) as ModelModule;

function meshConfig(n: number): Map<string, McpResource[]> {
  const out = new Map<string, McpResource[]>();
  const add = (kind: string, group: string, name: string, spec: Record<string, unknown>) => {
    const collection = `${group}/v1alpha3/${kind}`;
    if (!out.has(collection)) out.set(collection, []);
    out.get(collection)!.push(mcpResourceOf({ namespace: 'bench', name, spec }));
  };
  for (let i = 0; i < n; i++) {
    const host = `svc-${i}.bench.svc.cluster.local`;
    add('ServiceEntry', 'networking.istio.io', `svc-${i}`, {
      hosts: [host],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: [{ number: 9080, name: 'grpc', protocol: 'GRPC' }],
      workloadSelector: { labels: { app: `svc-${i}` } },
    });
    for (const v of ['v1', 'v2']) {
      add('WorkloadEntry', 'networking.istio.io', `svc-${i}-${v}`, {
        address: `10.${(i >> 8) & 255}.${i & 255}.${v === 'v1' ? 1 : 2}`,
        ports: { grpc: 8080 },
        labels: { app: `svc-${i}`, version: v },
        locality: 'r1/z1',
      });
    }
    add('DestinationRule', 'networking.istio.io', `svc-${i}`, {
      host,
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    });
    add('VirtualService', 'networking.istio.io', `svc-${i}`, {
      hosts: [host],
      http: [
        {
          match: [{ headers: { 'end-user': { exact: 'tester' } } }],
          route: [{ destination: { host, subset: 'v2' } }],
        },
        {
          route: [
            { destination: { host, subset: 'v1' }, weight: 80 },
            { destination: { host, subset: 'v2' }, weight: 20 },
          ],
          timeout: '2s',
        },
      ],
    });
  }
  return out;
}

function main(): void {
  const model = new MeshModel();
  for (const [collection, resources] of meshConfig(SERVICES)) model.apply(collection, resources);
  const generator = new pilot.GrpcGenerator();
  const proxies = Array.from({ length: PROXIES }, (_, i) =>
    pilot.proxyOf(
      core.Node.fromPartial({
        id: `sidecar~10.200.${i >> 8}.${i & 255}~client-${i}.bench~bench.svc.cluster.local`,
        metadata: { GENERATOR: 'grpc' },
      }),
    ),
  );
  let generation = 0;
  let bytes = 0;
  const fullPush = (shared: boolean) => () => {
    // A config change: a new generation, so a shared cache starts cold for this push.
    const push = new pilot.PushContext(
      `g${++generation}`,
      model.registry,
      model.store,
      'cluster.local',
      () => '0',
    );
    const cache = shared ? new EncodedResourceCache() : undefined;
    let resources = 0;
    for (const proxy of proxies) {
      const request = { proxy, push, names: undefined, cache };
      resources +=
        generator.buildListeners(request).length +
        generator.buildRoutes(request).length +
        generator.buildClusters(request).length +
        generator.buildEndpoints(request).length;
    }
    return resources;
  };
  // One push, to check both paths build the same resources and to report the size of a push.
  const check = new pilot.PushContext('check', model.registry, model.store, 'cluster.local', () => '0');
  const request = { proxy: proxies[0], push: check, names: undefined, cache: undefined };
  for (const out of [
    generator.buildListeners(request),
    generator.buildRoutes(request),
    generator.buildClusters(request),
    generator.buildEndpoints(request),
  ]) {
    for (const e of out) bytes += e.resource.value.length;
  }
  const perProxy = fullPush(false)() / PROXIES;
  const results = bench(
    { name: 'full push, every proxy encodes its own', run: fullPush(false) },
    [{ name: 'full push, encodings shared (cache)', run: fullPush(true) }],
    { rounds: 3, msPerRound: 1000, warmupMs: 500 },
  );
  console.log(
    formatResults(
      `Full push of ${SERVICES} services (VirtualService 80/20 + header match, DestinationRule v1/v2, 2 endpoints ` +
        `each) to ${PROXIES} proxyless gRPC proxies: ${perProxy} resources, ${(bytes / 1024).toFixed(0)} KiB per proxy`,
      results,
    ),
  );
}

main();

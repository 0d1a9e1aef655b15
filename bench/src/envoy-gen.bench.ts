// The Envoy sidecar generator's cost per proxy for a mesh of 1,000 services (issue 7, item 7): LDS, RDS, CDS and
// EDS for sidecars of one namespace, each at one workload's address (so it has inbound chains with mTLS and RBAC),
// measured three ways in the same run:
//   baseline  encoding the same resources again, from already-built messages: no generation at all;
//   uncached  every proxy builds and encodes everything itself (no encoded-resource cache);
//   cached    pilot's default: one push shares an encoded-resource cache, so each resource is encoded once per
//             namespace (or, for the inbound side, per workload) and the other proxies reuse it.
// One operation is one sidecar's whole output, so operations per second are proxies per second. Pilot is an app, so its built
// generators are loaded from apps/pilot/dist (the `envoy-gen` target builds it first).
import { resolve } from 'node:path';
import { mcpResourceOf } from '@flotilla/mcp';
import type { McpResource } from '@flotilla/mcp';
import { core, lookupType } from '@flotilla/proto';
import type { protobufAny } from '@flotilla/proto';
import { EncodedResourceCache } from '@flotilla/xds';
import { bench, formatResults } from './harness';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const PROXIES = Number(process.env.BENCH_PROXIES ?? 20);
const PILOT_DIST = resolve(__dirname, '../../apps/pilot/dist');

interface Entry {
  name: string;
  resource: protobufAny.Any;
}
interface Request {
  proxy: unknown;
  push: unknown;
  names: undefined;
  cache: EncodedResourceCache | undefined;
}
interface Generator {
  buildListeners(r: Request): Entry[];
  buildRoutes(r: Request): Entry[];
  buildClusters(r: Request): Entry[];
  buildEndpoints(r: Request): Entry[];
}
interface PilotModule {
  EnvoyGenerator: new () => Generator;
  proxyOf(node: core.Node): unknown;
}
interface ModelModule {
  MeshModel: new () => { apply(c: string, r: McpResource[]): void; pushContext(): unknown };
}

const pilot = require(`${PILOT_DIST}/generators/index.js`) as PilotModule;
const { MeshModel } = require(`${PILOT_DIST}/mesh-model.js`) as ModelModule;

function workloadAddress(i: number, version: 'v1' | 'v2'): string {
  return `10.${(i >> 8) & 255}.${i & 255}.${version === 'v1' ? 1 : 2}`;
}

/** n HTTP services with two versions each, routed 80/20 with a header match, under STRICT mTLS and an ALLOW policy. */
function meshConfig(n: number): Map<string, McpResource[]> {
  const out = new Map<string, McpResource[]>();
  const add = (collection: string, namespace: string, name: string, spec: Record<string, unknown>) => {
    if (!out.has(collection)) out.set(collection, []);
    out.get(collection)!.push(mcpResourceOf({ namespace, name, spec }));
  };
  const net = (kind: string) => `networking.istio.io/v1alpha3/${kind}`;
  const sec = (kind: string) => `security.istio.io/v1beta1/${kind}`;
  for (let i = 0; i < n; i++) {
    const host = `svc-${i}.bench.svc.cluster.local`;
    add(net('ServiceEntry'), 'bench', `svc-${i}`, {
      hosts: [host],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: [{ number: 9080, name: 'http', protocol: 'HTTP', targetPort: 8080 }],
      workloadSelector: { labels: { app: `svc-${i}` } },
    });
    for (const v of ['v1', 'v2'] as const) {
      add(net('WorkloadEntry'), 'bench', `svc-${i}-${v}`, {
        address: workloadAddress(i, v),
        labels: { app: `svc-${i}`, version: v },
      });
    }
    add(net('DestinationRule'), 'bench', `svc-${i}`, {
      host,
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    });
    add(net('VirtualService'), 'bench', `svc-${i}`, {
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
  add(sec('PeerAuthentication'), 'istio-system', 'default', { mtls: { mode: 'STRICT' } });
  add(sec('AuthorizationPolicy'), 'bench', 'same-namespace', {
    action: 'ALLOW',
    rules: [
      { from: [{ source: { namespaces: ['bench'] } }], to: [{ operation: { methods: ['GET', 'POST'] } }] },
    ],
  });
  return out;
}

function main(): void {
  const model = new MeshModel();
  for (const [collection, resources] of meshConfig(SERVICES)) model.apply(collection, resources);
  const push = model.pushContext();
  const generator = new pilot.EnvoyGenerator();
  const proxies = Array.from({ length: PROXIES }, (_, i) =>
    pilot.proxyOf(
      core.Node.fromPartial({
        id: `sidecar~${workloadAddress(i, 'v1')}~svc-${i}-v1.bench~bench.svc.cluster.local`,
        metadata: { LABELS: { app: `svc-${i}`, version: 'v1' } },
      }),
    ),
  );
  const generateAll = (proxy: unknown, cache: EncodedResourceCache | undefined): Entry[] => {
    const request: Request = { proxy, push, names: undefined, cache };
    return [
      ...generator.buildListeners(request),
      ...generator.buildRoutes(request),
      ...generator.buildClusters(request),
      ...generator.buildEndpoints(request),
    ];
  };

  // What every proxy receives, decoded into messages once: the baseline re-encodes exactly these.
  const outputs = proxies.map((p) => generateAll(p, undefined));
  const messages = outputs.map((entries) =>
    entries.map((e) => {
      const type = lookupType(e.resource.typeUrl)!;
      return { type, message: type.decode(e.resource.value) };
    }),
  );
  const resourcesPerProxy = outputs[0].length;
  const bytesPerProxy =
    outputs.reduce((sum, o) => sum + o.reduce((s, e) => s + e.resource.value.length, 0), 0) / PROXIES;

  // One operation is one proxy's whole output; consecutive operations go through the proxies in turn.
  let next = 0;
  const nextProxy = () => next++ % PROXIES;
  const encodeOnly = () => {
    let n = 0;
    for (const { type, message } of messages[nextProxy()]) n += type.encode(message).finish().length;
    return n;
  };
  const uncached = () => generateAll(proxies[nextProxy()], undefined).length;
  // Every PROXIES operations are one push after a config change: a cold cache shared by the push's proxies.
  let cache = new EncodedResourceCache();
  const cached = () => {
    const i = nextProxy();
    if (i === 0) cache = new EncodedResourceCache();
    return generateAll(proxies[i], cache).length;
  };
  // The bytes one push encodes with the cache (each shared resource once), per proxy.
  const encodedPerProxy = () => {
    const shared = new EncodedResourceCache();
    const unique = new Set<protobufAny.Any>();
    for (const proxy of proxies) for (const e of generateAll(proxy, shared)) unique.add(e.resource);
    return [...unique].reduce((s, a) => s + a.value.length, 0) / PROXIES;
  };

  // CPU time (all threads, so garbage collection counts) per proxy over two full rounds of the proxies.
  const cpuMsPerProxy = (run: () => unknown) => {
    next = 0;
    const start = process.cpuUsage();
    for (let i = 0; i < 2 * PROXIES; i++) run();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000 / (2 * PROXIES);
  };

  const results = bench(
    { name: 'baseline: encode built resources', run: encodeOnly },
    [
      { name: 'uncached: generate + encode', run: uncached },
      { name: 'cached: shared encodings', run: cached },
    ],
    { rounds: 3, msPerRound: 2000, warmupMs: 1000 },
  );
  const cpu = [encodeOnly, uncached, cached].map((run) => cpuMsPerProxy(run));
  const encodedBytes = encodedPerProxy();
  console.log(
    formatResults(
      `Envoy sidecar config (proxies/s) for ${SERVICES} HTTP services (VirtualService 80/20 + header match, DestinationRule ` +
        `v1/v2, 2 endpoints each, STRICT mTLS, one ALLOW policy), ${PROXIES} sidecars of one namespace: ` +
        `${resourcesPerProxy} resources, ${(bytesPerProxy / 1024).toFixed(0)} KiB per proxy`,
      results,
    ),
  );
  const names = ['baseline', 'uncached', 'cached'];
  console.log(
    `CPU per proxy: ${names.map((n, i) => `${n} ${cpu[i].toFixed(1)} ms`).join(', ')} ` +
      `(uncached ${(cpu[1] / cpu[0]).toFixed(2)}× baseline, cached ${(cpu[2] / cpu[0]).toFixed(2)}× baseline)`,
  );
  console.log(
    `Bytes per proxy: ${(bytesPerProxy / 1024).toFixed(0)} KiB sent; encoded per proxy with the cache ` +
      `${(encodedBytes / 1024).toFixed(0)} KiB (${((encodedBytes / bytesPerProxy) * 100).toFixed(1)}%)`,
  );
}

main();

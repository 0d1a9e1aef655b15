// The server side of `flotilla bench pilot`, a child process so that its memory and event loop are its own: either
// pilot's ADS server over a generated mesh (mode "pilot"), or a bare grpc-js ADS server that only writes what it is
// given to every stream (mode "raw"), the baseline the convergence figures are divided by. Pilot's modules are
// loaded from apps/pilot/dist, as `flotilla up` runs pilot from there, and typed here by what this file uses.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { ads, discovery } from '@flotilla/proto';
import { appEntryPoint } from '../paths';

export type HostRequest =
  | { type: 'change'; what: ChangeKind; round: number }
  | { type: 'fanout'; responses: string[] }
  | { type: 'stats' };

/**
 * A VirtualService change or an endpoint change of svc-0 (which every proxy dials), or an endpoint change of the
 * service `SPARSE_SERVICE`, which only a few proxies dial.
 */
export type ChangeKind = 'vs' | 'endpoint' | 'sparse-endpoint';

/** The last service: the load simulator spreads the other services over the proxies, a handful each. */
export function sparseService(services: number): number {
  return services - 1;
}

export type HostReply =
  | { type: 'ready'; port: number }
  | { type: 'done' }
  | {
      type: 'stats';
      rss: number;
      maxRss: number;
      streams: number;
      /** For each push since the last stats: ms from its dispatch (the debounce's end) to its last write. */
      sendMs: number[];
    };

type Service = Parameters<Server['addService']>;

interface MeshModelLike {
  apply(collection: string, resources: unknown[]): void;
}
interface PilotModules {
  MeshModel: new () => MeshModelLike;
  PilotXds: new (options: { model: MeshModelLike; logger: unknown }) => {
    xdsGenerators(): unknown;
    wire(server: unknown): () => void;
  };
  AdsServer: new (options: {
    logger: unknown;
    generators: unknown;
    debounce: { afterMs: number; endpoints: boolean };
    controlPlaneId: string;
    registry: unknown;
  }) => { definition: Service[0]; implementation: Service[1]; idle(): Promise<void>; close(): void };
  mcpResourceOf(o: { namespace: string; name: string; spec: unknown }): unknown;
  Registry: new () => unknown;
}

function pilotModules(): PilotModules {
  const pilotDist = dirname(appEntryPoint('pilot'));
  // Resolved from pilot's own location: these are pilot's dependencies, not the CLI's.
  const pilotRequire = createRequire(join(pilotDist, 'main.js'));
  return {
    MeshModel: pilotRequire('./mesh-model.js').MeshModel,
    PilotXds: pilotRequire('./xds.js').PilotXds,
    AdsServer: pilotRequire('@flotilla/xds').AdsServer,
    mcpResourceOf: pilotRequire('@flotilla/mcp').mcpResourceOf,
    Registry: pilotRequire('prom-client').Registry,
  };
}

const noop = (): undefined => undefined;
/** Called with the message of every info log (the ADS server logs "push" as it dispatches one). */
let onInfo: (message: string) => void = noop;
const silentLogger: Record<string, unknown> = {
  trace: noop,
  debug: noop,
  info: (_fields: unknown, message: string) => onInfo(message),
  warn: noop,
  error: noop,
  fatal: noop,
  isLevelEnabled: () => false,
};
silentLogger.child = () => silentLogger;

const NAMESPACE = 'bench';
const COLLECTION = (kind: string) => `networking.istio.io/v1alpha3/${kind}`;

export function benchHost(i: number): string {
  return `svc-${i}.${NAMESPACE}.svc.cluster.local`;
}

function virtualService(i: number, v1Weight: number): { namespace: string; name: string; spec: unknown } {
  const host = benchHost(i);
  return {
    namespace: NAMESPACE,
    name: `svc-${i}`,
    spec: {
      hosts: [host],
      http: [
        {
          match: [{ headers: { 'end-user': { exact: 'tester' } } }],
          route: [{ destination: { host, subset: 'v2' } }],
        },
        {
          route: [
            { destination: { host, subset: 'v1' }, weight: v1Weight },
            { destination: { host, subset: 'v2' }, weight: 100 - v1Weight },
          ],
          timeout: '2s',
        },
      ],
    },
  };
}

function workloadEntry(i: number, version: string, address: string) {
  return {
    namespace: NAMESPACE,
    name: `svc-${i}-${version}`,
    spec: {
      address,
      ports: { grpc: 8080 },
      labels: { app: `svc-${i}`, version },
      locality: 'r1/z1',
    },
  };
}

/** N services as galley would hand them to pilot: ServiceEntry, two WorkloadEntries, DestinationRule, VirtualService. */
function runPilot(
  services: number,
  debounce: { afterMs: number; endpoints: boolean },
  serve: (service: Service) => Promise<number>,
) {
  const m = pilotModules();
  const res = (o: { namespace: string; name: string; spec: unknown }) => m.mcpResourceOf(o);
  const serviceEntries: unknown[] = [];
  const workloadEntries: unknown[] = [];
  const destinationRules: unknown[] = [];
  const virtualServices: unknown[] = [];
  for (let i = 0; i < services; i++) {
    const host = benchHost(i);
    serviceEntries.push(
      res({
        namespace: NAMESPACE,
        name: `svc-${i}`,
        spec: {
          hosts: [host],
          location: 'MESH_INTERNAL',
          resolution: 'STATIC',
          ports: [{ number: 9080, name: 'grpc', protocol: 'GRPC' }],
          workloadSelector: { labels: { app: `svc-${i}` } },
        },
      }),
    );
    const base = `10.${(i >> 8) & 255}.${i & 255}`;
    workloadEntries.push(res(workloadEntry(i, 'v1', `${base}.1`)), res(workloadEntry(i, 'v2', `${base}.2`)));
    destinationRules.push(
      res({
        namespace: NAMESPACE,
        name: `svc-${i}`,
        spec: {
          host,
          subsets: [
            { name: 'v1', labels: { version: 'v1' } },
            { name: 'v2', labels: { version: 'v2' } },
          ],
        },
      }),
    );
    virtualServices.push(res(virtualService(i, 80)));
  }
  const model = new m.MeshModel();
  model.apply(COLLECTION('ServiceEntry'), serviceEntries);
  model.apply(COLLECTION('WorkloadEntry'), workloadEntries);
  model.apply(COLLECTION('DestinationRule'), destinationRules);
  model.apply(COLLECTION('VirtualService'), virtualServices);
  const xds = new m.PilotXds({ model, logger: silentLogger });
  const server = new m.AdsServer({
    logger: silentLogger,
    generators: xds.xdsGenerators(),
    debounce,
    controlPlaneId: 'pilot-bench',
    // Pilot records Istio's xDS metrics on every push, so the measured server does too.
    registry: new m.Registry(),
  });
  xds.wire(server);
  const sendMs: number[] = [];
  onInfo = (message) => {
    if (message !== 'push') return;
    const dispatchedAt = performance.now();
    void server.idle().then(() => sendMs.push(performance.now() - dispatchedAt));
  };
  return {
    sendMs,
    port: serve([server.definition, server.implementation]),
    // Pilot's MCP sink hands the model a changed collection whole (over delta MCP too), so a change here does.
    change(what: ChangeKind, round: number): void {
      if (what === 'vs') {
        virtualServices[0] = res(virtualService(0, 75 - (round % 10) * 5));
        model.apply(COLLECTION('VirtualService'), [...virtualServices]);
      } else if (what === 'endpoint') {
        workloadEntries[1] = res(workloadEntry(0, 'v2', `10.255.${round % 250}.2`));
        model.apply(COLLECTION('WorkloadEntry'), [...workloadEntries]);
      } else {
        const i = sparseService(services);
        workloadEntries[2 * i + 1] = res(workloadEntry(i, 'v2', `10.254.${round % 250}.2`));
        model.apply(COLLECTION('WorkloadEntry'), [...workloadEntries]);
      }
    },
    close: () => server.close(),
  };
}

/** A bare ADS server: keeps every stream and writes the given responses to all of them when told. */
function runRaw(serve: (service: Service) => Promise<number>) {
  const streams = new Set<ServerDuplexStream<discovery.DiscoveryRequest, discovery.DiscoveryResponse>>();
  const implementation: ads.AggregatedDiscoveryServiceServer = {
    streamAggregatedResources(call) {
      streams.add(call);
      call.on('data', noop);
      call.on('error', noop);
      call.on('close', () => streams.delete(call));
      call.on('end', () => {
        streams.delete(call);
        call.end();
      });
    },
    deltaAggregatedResources(call) {
      call.end();
    },
  };
  return {
    port: serve([ads.AggregatedDiscoveryServiceService, implementation as unknown as Service[1]]),
    fanout(encoded: string[]): void {
      const responses = encoded.map((b) => discovery.DiscoveryResponse.decode(Buffer.from(b, 'base64')));
      for (const stream of streams) for (const r of responses) stream.write(r);
    },
    streams: () => streams.size,
  };
}

function main(): void {
  const [mode, servicesArg, debounceArg, edsDebounceArg] = process.argv.slice(2);
  const server = new Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
  const serve = (service: Service) => {
    server.addService(...service);
    return new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
  };
  let maxRss = process.memoryUsage().rss;
  setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 100).unref();
  const reply = (message: HostReply) => process.send!(message);
  const pilot =
    mode === 'pilot'
      ? runPilot(
          Number(servicesArg),
          { afterMs: Number(debounceArg), endpoints: edsDebounceArg !== 'false' },
          serve,
        )
      : undefined;
  const raw = mode === 'raw' ? runRaw(serve) : undefined;
  let streams = () => 0;
  if (raw) streams = raw.streams;
  process.on('message', (message: HostRequest) => {
    if (message.type === 'change') {
      pilot?.change(message.what, message.round);
      reply({ type: 'done' });
    } else if (message.type === 'fanout') {
      raw?.fanout(message.responses);
      reply({ type: 'done' });
    } else {
      const rss = process.memoryUsage().rss;
      maxRss = Math.max(maxRss, rss);
      reply({ type: 'stats', rss, maxRss, streams: streams(), sendMs: pilot?.sendMs.splice(0) ?? [] });
    }
  });
  process.on('disconnect', () => {
    pilot?.close();
    server.forceShutdown();
    process.exit(0);
  });
  void (pilot ?? raw)!.port.then(
    (port) => reply({ type: 'ready', port }),
    (err: Error) => {
      process.stderr.write(`bench host: ${err.message}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) main();

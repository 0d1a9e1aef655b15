// The pilot load simulator behind `flotilla bench pilot` and bench:pilot-load: M lightweight ADS clients (raw SotW
// streams, gRPC framed by hand over node:http2, each on its own connection, ACKing everything) against pilot fed N
// generated services, then the same number of streams against a bare grpc-js server that writes the very bytes
// pilot sent, so that noise on this shared machine hits both alike and the ratio is what is compared.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as http2 from 'node:http2';
import { core, discovery } from '@flotilla/proto';
import { benchHost, sparseService } from './pilot-host';
import type { HostReply, HostRequest } from './pilot-host';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const TYPES = [LDS, RDS, CDS, EDS] as const;
const SHORT: Record<string, string> = { [LDS]: 'LDS', [RDS]: 'RDS', [CDS]: 'CDS', [EDS]: 'EDS' };

/** Rounds of each change made first and not counted, unless the options say otherwise. */
export const DEFAULT_WARMUP_ROUNDS = 2;

export interface PilotLoadOptions {
  services: number;
  proxies: number;
  /** Services each proxy dials (svc-0, which every change touches, and others spread evenly). */
  targets: number;
  rounds: number;
  /**
   * Rounds of each change made before the counted ones, left out of the figures (DEFAULT_WARMUP_ROUNDS). Code a change runs
   * only once per push (the registry update, the subscriber lookup) is still interpreted in the first rounds, and
   * is compiled in the background while they run; a long-running pilot is past that after its first pushes.
   */
  warmupRounds?: number;
  debounceMs: number;
  /** Whether endpoint-only pushes wait for the debounce too (pilot's --eds-debounce). Default true. */
  edsDebounce?: boolean;
  /** Seconds to wait for every proxy to sync, and for each change to converge. */
  timeoutSeconds: number;
  progress?: (line: string) => void;
}

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  /** Proxies (summed over rounds) that did not ACK before the timeout. */
  missed: number;
}

export interface RoundP99 {
  pilot: number;
  bare: number;
}

export interface PilotLoadResult {
  options: PilotLoadOptions;
  syncedMs: number;
  syncMissed: number;
  vs: Percentiles;
  endpoint: Percentiles;
  /** The longest time pilot took from a push's dispatch (after the debounce) to its last response written. */
  vsSendMaxMs: number;
  endpointSendMaxMs: number;
  /** The bare server's fan-out of the same bytes, one right after each of pilot's rounds. */
  rawVs: Percentiles;
  rawEndpoint: Percentiles;
  /** Pilot's p99 and the bare p99 right after it, round by round. */
  vsRounds: RoundP99[];
  endpointRounds: RoundP99[];
  /** The same for the warm-up rounds, which the figures above leave out. */
  vsWarmup: RoundP99[];
  endpointWarmup: RoundP99[];
  /** Responses by type that each proxy got for one change (proxy 0, last round). */
  vsTypes: string;
  endpointTypes: string;
  vsBytes: number;
  endpointBytes: number;
  /** An endpoint change of a service only a few proxies dial: only they are pushed. */
  sparse: { service: number; proxies: number; stats: Percentiles; sendMaxMs: number };
  rssAfterSync: number;
  maxRss: number;
}

/** One child process (pilot or the bare server) and request/reply over IPC, one at a time. */
class Host {
  private readonly child: ChildProcess;
  private pending: ((reply: HostReply) => void)[] = [];
  readonly ready: Promise<number>;

  constructor(args: string[]) {
    this.child = fork(join(__dirname, 'pilot-host.js'), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // For profiling the server side, e.g. FLOTILLA_BENCH_HOST_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
      execArgv: (process.env.FLOTILLA_BENCH_HOST_ARGS ?? '').split(' ').filter(Boolean),
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`bench host exited with ${code}`)));
      this.pending.push((reply) => resolve((reply as { port: number }).port));
    });
    this.child.on('message', (reply: HostReply) => this.pending.shift()?.(reply));
  }

  call(request: HostRequest): Promise<HostReply> {
    return new Promise((resolve) => {
      this.pending.push(resolve);
      this.child.send(request);
    });
  }

  async stats(): Promise<{ rss: number; maxRss: number; streams: number; sendMs: number[] }> {
    return (await this.call({ type: 'stats' })) as {
      rss: number;
      maxRss: number;
      streams: number;
      sendMs: number[];
    };
  }

  stop(): void {
    this.child.removeAllListeners('exit');
    this.child.disconnect();
  }
}

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/**
 * A proxy: one HTTP/2 connection, one ADS stream, ACKs every response, and records when it ACKed each type. The
 * stream is gRPC as it goes on the wire (length-prefixed messages on an HTTP/2 stream) spoken over node:http2
 * directly: grpc-js's client machinery costs more per message than decoding and answering does, and 2,000 of
 * these share one process on the machine's two cores with the server being measured.
 */
class LoadClient {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  /** Bytes of a message not yet complete. */
  private partial: Buffer | undefined;
  readonly counts = new Map<string, number>();
  readonly received: { at: number; response: discovery.DiscoveryResponse }[] = [];
  syncedAt: number | undefined;
  private waiters: { typeUrl: string; count: number; resolve: (at: number) => void }[] = [];

  constructor(
    address: string,
    private readonly subscriptions: Map<string, string[]>,
    node: core.Node | undefined,
    private readonly capture: boolean,
  ) {
    // Its own connection, as a real proxy has.
    this.session = http2.connect(`http://${address}`);
    this.session.on('error', () => undefined);
    this.stream = this.session.request({
      ':method': 'POST',
      ':path': ADS_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.stream.on('error', () => undefined);
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    let first = true;
    for (const [typeUrl, resourceNames] of subscriptions) {
      this.send(
        discovery.DiscoveryRequest.fromPartial({ node: first ? node : undefined, typeUrl, resourceNames }),
      );
      first = false;
    }
  }

  private send(request: discovery.DiscoveryRequest): void {
    const message = discovery.DiscoveryRequest.encode(request).finish();
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0; // not compressed
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    this.stream.write(frame);
  }

  /** Splits the stream's bytes into gRPC messages (5-byte prefix: flag, big-endian length). */
  private onData(chunk: Buffer): void {
    let data = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = undefined;
    while (data.length >= 5) {
      const end = 5 + data.readUInt32BE(1);
      if (data.length < end) break;
      this.onResponse(discovery.DiscoveryResponse.decode(data.subarray(5, end)));
      data = data.subarray(end);
    }
    if (data.length > 0) this.partial = data;
  }

  private onResponse(response: discovery.DiscoveryResponse): void {
    this.send(
      discovery.DiscoveryRequest.fromPartial({
        typeUrl: response.typeUrl,
        versionInfo: response.versionInfo,
        responseNonce: response.nonce,
        resourceNames: this.subscriptions.get(response.typeUrl) ?? [],
      }),
    );
    const at = performance.now();
    if (this.capture) this.received.push({ at, response });
    const count = (this.counts.get(response.typeUrl) ?? 0) + 1;
    this.counts.set(response.typeUrl, count);
    if (this.syncedAt === undefined && TYPES.every((t) => this.counts.has(t))) this.syncedAt = at;
    this.waiters = this.waiters.filter((w) => {
      if (w.typeUrl !== response.typeUrl || count < w.count) return true;
      w.resolve(at);
      return false;
    });
  }

  count(typeUrl: string): number {
    return this.counts.get(typeUrl) ?? 0;
  }

  /** When this proxy ACKed its `count`th response of the type. */
  ackedAt(typeUrl: string, count: number): Promise<number> {
    return new Promise((resolve) => {
      if (this.count(typeUrl) >= count) resolve(performance.now());
      else this.waiters.push({ typeUrl, count, resolve });
    });
  }

  close(): void {
    this.stream.close();
    this.session.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentiles(latencies: number[], missed: number): Percentiles {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN, missed };
}

/** Every client's ACK of `perClient` more responses of a type, in ms after `start`, missing ones after the timeout. */
async function converge(
  clients: LoadClient[],
  typeUrl: string,
  perClient: number,
  timeoutMs: number,
  trigger: () => Promise<unknown>,
): Promise<{ latencies: number[]; missed: number }> {
  const waits = clients.map((c) => c.ackedAt(typeUrl, c.count(typeUrl) + perClient));
  const start = performance.now();
  await trigger();
  const timeout = sleep(timeoutMs).then(() => undefined);
  const done = await Promise.all(waits.map((w) => Promise.race([w, timeout])));
  const latencies = done.filter((at): at is number => at !== undefined).map((at) => at - start);
  return { latencies, missed: done.length - latencies.length };
}

function targetsOf(proxy: number, options: PilotLoadOptions): number[] {
  const out = [0];
  const others = options.services - 1;
  for (let j = 0; j < options.targets - 1 && others > 0; j++) {
    out.push(1 + ((proxy * (options.targets - 1) + j) % others));
  }
  return [...new Set(out)];
}

function subscriptionsOf(targets: number[]): Map<string, string[]> {
  const listeners = targets.map((i) => `${benchHost(i)}:9080`);
  const clusters = targets.flatMap((i) => ['', 'v1', 'v2'].map((s) => `outbound|9080|${s}|${benchHost(i)}`));
  // What grpc-js-xds asks for once it has read the listener (RDS) and the routes (CDS, then EDS).
  return new Map([
    [LDS, listeners],
    [RDS, listeners],
    [CDS, clusters],
    [EDS, clusters],
  ]);
}

async function connect(
  count: number,
  make: (i: number) => LoadClient,
  synced: (c: LoadClient) => boolean,
  timeoutMs: number,
): Promise<{ clients: LoadClient[]; ms: number; missed: number }> {
  const start = performance.now();
  const clients: LoadClient[] = [];
  for (let i = 0; i < count; i++) {
    clients.push(make(i));
    // Yield now and then so that early streams are served while the rest connect, as a real fleet would be.
    if (i % 100 === 99) await sleep(0);
  }
  while (performance.now() - start < timeoutMs && !clients.every(synced)) await sleep(50);
  const missed = clients.filter((c) => !synced(c)).length;
  const last = Math.max(...clients.map((c) => c.syncedAt ?? performance.now()));
  return { clients, ms: last - start, missed };
}

/** The bare server writes `responses` to every stream; each client's ACK of the last one, in ms after the command. */
async function fanout(
  clients: LoadClient[],
  raw: Host,
  responses: discovery.DiscoveryResponse[],
  timeoutMs: number,
): Promise<{ latencies: number[]; missed: number }> {
  const encoded = responses.map((r) =>
    Buffer.from(discovery.DiscoveryResponse.encode(r).finish()).toString('base64'),
  );
  const typeUrl = responses[responses.length - 1].typeUrl;
  const perClient = responses.filter((r) => r.typeUrl === typeUrl).length;
  return converge(clients, typeUrl, perClient, timeoutMs, () =>
    raw.call({ type: 'fanout', responses: encoded }),
  );
}

function responsesSince(client: LoadClient, since: number): discovery.DiscoveryResponse[] {
  return client.received.filter((r) => r.at >= since).map((r) => r.response);
}

export async function runPilotLoad(options: PilotLoadOptions): Promise<PilotLoadResult> {
  const log = options.progress ?? (() => undefined);
  const timeoutMs = options.timeoutSeconds * 1000;
  const warmupRounds = options.warmupRounds ?? DEFAULT_WARMUP_ROUNDS;

  log(`starting pilot with ${options.services} services`);
  const pilot = new Host([
    'pilot',
    String(options.services),
    String(options.debounceMs),
    String(options.edsDebounce ?? true),
  ]);
  const pilotAddress = `127.0.0.1:${await pilot.ready}`;
  log(`connecting ${options.proxies} proxies`);
  const sync = await connect(
    options.proxies,
    (i) =>
      new LoadClient(
        pilotAddress,
        subscriptionsOf(targetsOf(i, options)),
        core.Node.fromPartial({
          id: `sidecar~10.200.${(i >> 8) & 255}.${i & 255}~load-${i}.bench~bench.svc.cluster.local`,
          metadata: { GENERATOR: 'grpc' },
        }),
        i === 0,
      ),
    (c) => c.syncedAt !== undefined,
    timeoutMs,
  );
  const clients = sync.clients;
  log(`synced in ${sync.ms.toFixed(0)} ms (${sync.missed} missed)`);
  const rssAfterSync = (await pilot.stats()).rss;

  // The same bytes to the same number of streams through a bare grpc-js server, in the same rounds: its clients
  // stay connected (idle) while pilot is measured, and each pilot round is followed at once by the bare fan-out of
  // what proxy 0 received in it, so a noisy moment on this shared machine hits both sides of a ratio alike.
  log(`starting the bare grpc-js server and its ${options.proxies} streams`);
  const raw = new Host(['raw']);
  const rawAddress = `127.0.0.1:${await raw.ready}`;
  const rawClients = (
    await connect(
      options.proxies,
      // The same subscriptions as pilot's proxy i, so that its ACKs (which repeat the subscribed names) cost the
      // client and the server what pilot's clients' ACKs cost: only the server side differs between the two.
      (i) =>
        new LoadClient(
          rawAddress,
          subscriptionsOf(targetsOf(i, options)),
          core.Node.fromPartial({ id: `raw-${i}` }),
          false,
        ),
      () => true,
      timeoutMs,
    )
  ).clients;
  const start = performance.now();
  while ((await raw.stats()).streams < options.proxies && performance.now() - start < timeoutMs)
    await sleep(50);

  const measure = async (what: 'vs' | 'endpoint', typeUrl: string) => {
    const latencies: number[] = [];
    const rawLatencies: number[] = [];
    const rounds: RoundP99[] = [];
    const warmup: RoundP99[] = [];
    let missed = 0;
    let rawMissed = 0;
    let responses: discovery.DiscoveryResponse[] = [];
    for (let round = 0; round < warmupRounds + options.rounds; round++) {
      const counted = round >= warmupRounds;
      await sleep(500);
      const since = performance.now();
      const r = await converge(clients, typeUrl, 1, timeoutMs, () =>
        pilot.call({ type: 'change', what, round }),
      );
      // Anything else pushed for this change arrives within the wait above or not at all.
      await sleep(200);
      responses = responsesSince(clients[0], since);
      await sleep(300);
      const bare = await fanout(rawClients, raw, responses, timeoutMs);
      const p99 = percentiles(r.latencies, r.missed).p99;
      const bareP99 = percentiles(bare.latencies, bare.missed).p99;
      const line = `pilot ${spread(r.latencies)}, bare ${spread(bare.latencies)}`;
      if (!counted) {
        warmup.push({ pilot: p99, bare: bareP99 });
        log(`${what} change, warm-up ${round + 1}/${warmupRounds} (not counted): ${line}`);
        // Pilot's send times from here on are the counted rounds'.
        if (round === warmupRounds - 1) await pilot.stats();
        continue;
      }
      latencies.push(...r.latencies);
      missed += r.missed;
      rawLatencies.push(...bare.latencies);
      rawMissed += bare.missed;
      rounds.push({ pilot: p99, bare: bareP99 });
      log(`${what} change ${round - warmupRounds + 1}/${options.rounds}: ${line}`);
    }
    // How long pilot took, from each push's dispatch (the debounce's end) to its last response written.
    const sendMs = (await pilot.stats()).sendMs;
    return {
      stats: percentiles(latencies, missed),
      raw: percentiles(rawLatencies, rawMissed),
      rounds,
      warmup,
      responses,
      sendMaxMs: Math.max(0, ...sendMs),
    };
  };
  const vs = await measure('vs', RDS);
  const endpoint = await measure('endpoint', EDS);

  // An endpoint change that concerns a few proxies: the time it takes them (pilot finds them through its index
  // of subscribed names, without going through the other proxies' subscriptions).
  const service = sparseService(options.services);
  const dialing = clients.filter((_, i) => targetsOf(i, options).includes(service));
  const sparseLatencies: number[] = [];
  let sparseMissed = 0;
  for (let round = 0; round < warmupRounds + options.rounds && dialing.length > 0; round++) {
    await sleep(300);
    const r = await converge(dialing, EDS, 1, timeoutMs, () =>
      pilot.call({ type: 'change', what: 'sparse-endpoint', round }),
    );
    if (round < warmupRounds) {
      if (round === warmupRounds - 1) await pilot.stats();
      continue;
    }
    sparseLatencies.push(...r.latencies);
    sparseMissed += r.missed;
  }
  await sleep(200);
  const sparseSendMs = (await pilot.stats()).sendMs;
  const sparse = {
    service,
    proxies: dialing.length,
    stats: percentiles(sparseLatencies, sparseMissed),
    sendMaxMs: Math.max(0, ...sparseSendMs),
  };
  log(`sparse endpoint change (${dialing.length} proxies): p99 ${sparse.stats.p99.toFixed(0)} ms`);

  const { maxRss } = await pilot.stats();
  for (const c of [...clients, ...rawClients]) c.close();
  pilot.stop();
  raw.stop();

  const describe = (responses: discovery.DiscoveryResponse[]) =>
    responses.map((r) => `${SHORT[r.typeUrl] ?? r.typeUrl}×${r.resources.length}`).join(' + ') || 'none';
  const bytes = (responses: discovery.DiscoveryResponse[]) =>
    responses.reduce((sum, r) => sum + discovery.DiscoveryResponse.encode(r).finish().length, 0);
  return {
    options,
    syncedMs: sync.ms,
    syncMissed: sync.missed,
    vs: vs.stats,
    endpoint: endpoint.stats,
    vsSendMaxMs: vs.sendMaxMs,
    endpointSendMaxMs: endpoint.sendMaxMs,
    rawVs: vs.raw,
    rawEndpoint: endpoint.raw,
    vsRounds: vs.rounds,
    endpointRounds: endpoint.rounds,
    vsWarmup: vs.warmup,
    endpointWarmup: endpoint.warmup,
    vsTypes: describe(vs.responses),
    endpointTypes: describe(endpoint.responses),
    vsBytes: bytes(vs.responses),
    endpointBytes: bytes(endpoint.responses),
    sparse,
    rssAfterSync,
    maxRss,
  };
}

export function formatPilotLoad(r: PilotLoadResult): string {
  const o = r.options;
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const line = (
    name: string,
    p: Percentiles,
    sendMaxMs: number,
    raw: Percentiles,
    rounds: RoundP99[],
    warmup: RoundP99[],
    goal: number,
    debounced: boolean,
  ) =>
    `  ${name}: p50 ${ms(p.p50)}, p99 ${ms(p.p99)} (goal ${goal} ms), max ${ms(p.max)}, missed ${p.missed}; ` +
    `pilot wrote the last response ≤ ${ms(sendMaxMs)} after the debounce; ` +
    `bare fan-out p99 ${ms(raw.p99)}; ratio ${(p.p99 / raw.p99).toFixed(2)}` +
    (debounced
      ? ` (${((p.p99 - o.debounceMs) / raw.p99).toFixed(2)} without the ${o.debounceMs} ms debounce)`
      : ' (not debounced)') +
    `; round by round ${describeRatios(rounds.map((r) => (r.pilot - (debounced ? o.debounceMs : 0)) / r.bare))}` +
    `${debounced ? ' without the debounce' : ''} (goal 1.5)` +
    (warmup.length > 0
      ? `; warm-up rounds, not counted: p99 ${warmup.map((w) => `${ms(w.pilot)} (bare ${ms(w.bare)})`).join(', ')}`
      : '');
  const edsDebounce = o.edsDebounce ?? true;
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
  return [
    `pilot load: ${o.services} services, ${o.proxies} proxies dialing ${o.targets} services each, ` +
      `${o.rounds} rounds after ${o.warmupRounds ?? DEFAULT_WARMUP_ROUNDS} of warm-up, debounce ${o.debounceMs} ms${edsDebounce ? '' : ' (not for endpoint-only pushes)'}`,
    `  all synced: ${(r.syncedMs / 1000).toFixed(1)} s (goal 20 s), ${r.syncMissed} not synced`,
    line(
      `VirtualService change (${r.vsTypes}, ${r.vsBytes} B per proxy)`,
      r.vs,
      r.vsSendMaxMs,
      r.rawVs,
      r.vsRounds,
      r.vsWarmup,
      1000,
      true,
    ),
    line(
      `endpoint change (${r.endpointTypes}, ${r.endpointBytes} B per proxy)`,
      r.endpoint,
      r.endpointSendMaxMs,
      r.rawEndpoint,
      r.endpointRounds,
      r.endpointWarmup,
      300,
      edsDebounce,
    ),
    `  endpoint change of svc-${r.sparse.service}, which ${r.sparse.proxies} proxies dial: ` +
      `p50 ${ms(r.sparse.stats.p50)}, p99 ${ms(r.sparse.stats.p99)}, missed ${r.sparse.stats.missed}; ` +
      `pilot wrote the last response ≤ ${ms(r.sparse.sendMaxMs)} after dispatching the push`,
    `  pilot RSS: ${mb(r.rssAfterSync)} after sync, ${mb(r.maxRss)} peak (goal 1024 MB)`,
  ].join('\n');
}

/** "first 31, p50 70, p99 112 ms": when the first proxy ACKed, the median one and the 99th percentile. */
function spread(latencies: number[]): string {
  const p = percentiles(latencies, 0);
  const first = Math.min(...latencies);
  return `first ${first.toFixed(0)}, p50 ${p.p50.toFixed(0)}, p99 ${p.p99.toFixed(0)} ms`;
}

/** "median 1.21, 1.05–1.40" */
function describeRatios(ratios: number[]): string {
  if (ratios.length === 0) return 'none';
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = percentiles(sorted, 0).p50;
  return `median ${median.toFixed(2)}, ${sorted[0].toFixed(2)}–${sorted[sorted.length - 1].toFixed(2)}`;
}

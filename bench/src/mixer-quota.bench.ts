// Over-admission of quota across 3 mixer replicas (issue 6, goal: 0 with Redis).
//
// Starts a real redis-server on a free port and three mixer processes (apps/mixer/dist/main.js) on one config
// folder with three quotas of the same limit per window: redisquota FIXED_WINDOW, redisquota ROLLING_WINDOW (both
// shared through the Redis) and memquota (each replica counts in its own memory: the baseline, expected ~3×;
// Istio users measured +344% with memquota behind several replicas, istio/istio#21301). Concurrent clients hammer
// each quota through all three replicas, two ways: direct Checks asking 1 unit each (what Envoy's mixer filter
// does with prefetch off), and libs/mixer-client's quota prefetch (9 clients, as 9 sidecars, 3 per replica).
//
// Each round measures one window: it starts just after a window boundary (redisquota's fixed windows are aligned
// on Redis's clock, the same host's clock here), uses a fresh quota bucket (a new x-bucket header, a quota
// dimension), and stops sending 400 ms before the window ends so no answer can come from the next window.
// Printed per quota and way: admitted per window against the limit, and the over-admission.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MixerClient, attributesOf, encodeAttributes, grpcTransport } from '@flotilla/mixer-client';
import { health, mixerCheck, mixerService } from '@flotilla/proto';
import { freePorts, waitFor } from '@flotilla/testing';

const MIXER_MAIN = join(__dirname, '..', '..', 'apps', 'mixer', 'dist', 'main.js');
const LIMIT = Number(process.env.BENCH_QUOTA_LIMIT ?? 200);
const WINDOW_MS = 2000;
const STOP_BEFORE_END_MS = 400;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = 48;
const REPLICAS = 3;
const CONTINUOUS_WINDOWS = 3;

const QUOTAS = [
  { name: 'fixedquota', label: 'redisquota FIXED_WINDOW  ' },
  { name: 'rollingquota', label: 'redisquota ROLLING_WINDOW' },
  { name: 'memoryquota', label: 'memquota (baseline)      ' },
] as const;

const CONFIG = (redisPort: number) => `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: redisfixed, namespace: istio-system }
spec:
  compiledAdapter: redisquota
  params:
    redisServerUrl: 127.0.0.1:${redisPort}
    quotas:
    - { name: fixedquota.istio-system, maxAmount: ${LIMIT}, validDuration: ${WINDOW_MS}ms, rateLimitAlgorithm: FIXED_WINDOW }
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: redisrolling, namespace: istio-system }
spec:
  compiledAdapter: redisquota
  params:
    redisServerUrl: 127.0.0.1:${redisPort}
    quotas:
    - name: rollingquota.istio-system
      maxAmount: ${LIMIT}
      validDuration: ${WINDOW_MS}ms
      rateLimitAlgorithm: ROLLING_WINDOW
      bucketDuration: ${WINDOW_MS / 10}ms
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: memory, namespace: istio-system }
spec:
  compiledAdapter: memquota
  params:
    quotas:
    - { name: memoryquota.istio-system, maxAmount: ${LIMIT}, validDuration: ${WINDOW_MS}ms }
${QUOTAS.map(
  (q) => `---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: ${q.name}, namespace: istio-system }
spec:
  compiledTemplate: quota
  params:
    dimensions:
      bucket: request.headers["x-bucket"] | "none"
      destination: destination.service.host | "unknown"
`,
).join('')}---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: quota, namespace: istio-system }
spec:
  actions:
  - { handler: redisfixed, instances: [fixedquota] }
  - { handler: redisrolling, instances: [rollingquota] }
  - { handler: memory, instances: [memoryquota] }
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function serving(address: string): Promise<boolean> {
  const client = new health.HealthClient(address, grpc.credentials.createInsecure());
  return new Promise((resolve) =>
    client.check({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + 2000 }, (err, res) => {
      client.close();
      resolve(!err && res.status === health.HealthCheckResponse_ServingStatus.SERVING);
    }),
  );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const attrs = (bucket: string) =>
  attributesOf({
    'destination.service.host': 'ratings.default.svc.cluster.local',
    'source.principal': 'cluster.local/ns/default/sa/bookinfo-reviews',
    'request.path': '/ratings/0',
    'request.headers': { 'x-bucket': bucket, ':path': '/ratings/0' },
    'context.protocol': 'http',
  });

/** Waits until the current fixed window (aligned on multiples of WINDOW_MS) is 10-30 ms old. */
async function windowStart(): Promise<number> {
  for (;;) {
    const into = Date.now() % WINDOW_MS;
    if (into >= 10 && into < 30) return Date.now() - into;
    await sleep(into < 10 ? 10 - into : WINDOW_MS - into + 10);
  }
}

interface Round {
  admitted: number;
  attempts: number;
}

/** Direct Checks of 1 unit (no prefetch), round-robin over the replicas, until the round's end. */
async function directRound(stubs: mixerService.MixerClient[], quota: string, bucket: string): Promise<Round> {
  const request = mixerCheck.CheckRequest.fromPartial({
    attributes: encodeAttributes(attrs(bucket)),
    globalWordCount: 0,
    quotas: { [quota]: { amount: 1, bestEffort: false } },
  });
  const start = await windowStart();
  const stopAt = start + WINDOW_MS - STOP_BEFORE_END_MS;
  let admitted = 0;
  let attempts = 0;
  const worker = async (w: number) => {
    const stub = stubs[w % stubs.length];
    while (Date.now() < stopAt) {
      attempts++;
      const res = await new Promise<mixerCheck.CheckResponse>((resolve, reject) =>
        stub.check(request, (err, r) => (err ? reject(err) : resolve(r))),
      );
      const q = res.quotas[quota];
      if (q && (q.status?.code ?? 0) === 0 && Number(q.grantedAmount) === 1) admitted++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  return { admitted, attempts };
}

/**
 * FIXED_WINDOW across window boundaries: one bucket hammered for CONTINUOUS_WINDOWS windows without pause. Each
 * grant says how long its window has left (redisquota's valid_duration, on Redis's clock, which is this host's), so
 * its window is the multiple of WINDOW_MS nearest to the receive time plus that: grants are counted per window.
 */
async function continuousFixed(
  stubs: mixerService.MixerClient[],
  bucket: string,
): Promise<Map<number, number>> {
  const quota = 'fixedquota';
  const request = mixerCheck.CheckRequest.fromPartial({
    attributes: encodeAttributes(attrs(bucket)),
    globalWordCount: 0,
    quotas: { [quota]: { amount: 1, bestEffort: false } },
  });
  const start = await windowStart();
  const stopAt = start + CONTINUOUS_WINDOWS * WINDOW_MS + WINDOW_MS / 2;
  const perWindow = new Map<number, number>();
  const worker = async (w: number) => {
    const stub = stubs[w % stubs.length];
    while (Date.now() < stopAt) {
      const res = await new Promise<mixerCheck.CheckResponse>((resolve, reject) =>
        stub.check(request, (err, r) => (err ? reject(err) : resolve(r))),
      );
      const q = res.quotas[quota];
      if (!q || (q.status?.code ?? 0) !== 0 || Number(q.grantedAmount) !== 1) continue;
      const left =
        Number(q.validDuration?.seconds ?? 0) * 1000 + Math.floor((q.validDuration?.nanos ?? 0) / 1e6);
      const window = Math.round((Date.now() + left) / WINDOW_MS);
      perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  return perWindow;
}

/** The same through mixer-client's quota prefetch: 3 clients per replica, each with its own pools. */
async function prefetchRound(
  stubs: mixerService.MixerClient[],
  quota: string,
  bucket: string,
): Promise<Round> {
  const clients = Array.from(
    { length: REPLICAS * 3 },
    (_, i) => new MixerClient(grpcTransport(stubs[i % stubs.length]), {}),
  );
  const a = attrs(bucket);
  const spec = [{ name: quota, dimensions: { bucket } }];
  const start = await windowStart();
  const stopAt = start + WINDOW_MS - STOP_BEFORE_END_MS;
  let admitted = 0;
  let attempts = 0;
  const worker = async (w: number) => {
    const client = clients[w % clients.length];
    while (Date.now() < stopAt) {
      attempts++;
      const outcome = await client.check(a, spec);
      if (outcome.code === 0) admitted++;
      // A refused request returns at once from a closed pool; yield so the others get the loop.
      else await sleep(1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  await Promise.all(clients.map((c) => c.close()));
  return { admitted, attempts };
}

async function main(): Promise<void> {
  const ports = await freePorts(1 + REPLICAS * 3);
  const redisPort = ports[0];
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-quota-'));
  const cleanup = async () => {
    for (const c of children.reverse()) await stop(c);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    children.push(
      spawn(
        'redis-server',
        ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      ),
    );
    await waitFor('redis-server to listen', () => listening(redisPort), 10_000);
    writeFileSync(join(dir, 'quota.yaml'), CONFIG(redisPort));
    const addresses: string[] = [];
    for (let r = 0; r < REPLICAS; r++) {
      const [grpcPort, monitoringPort, prometheusPort] = ports.slice(1 + r * 3, 4 + r * 3);
      children.push(
        spawn(
          process.execPath,
          [
            MIXER_MAIN,
            '--host',
            '127.0.0.1',
            '--grpc-port',
            String(grpcPort),
            '--monitoring-port',
            String(monitoringPort),
            '--prometheus-port',
            String(prometheusPort),
            '--config-dir',
            dir,
          ],
          { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } },
        ),
      );
      addresses.push(`127.0.0.1:${grpcPort}`);
    }
    for (const address of addresses) await waitFor(`mixer at ${address}`, () => serving(address), 30_000);
    const stubs = addresses.map((a) => new mixerService.MixerClient(a, grpc.credentials.createInsecure()));

    // Warm-up: connections and JIT in every replica, on a bucket no round uses.
    await directRound(stubs, 'fixedquota', 'warm-up');

    const results = new Map<string, { direct: Round[]; prefetch: Round[] }>();
    for (const q of QUOTAS) results.set(q.name, { direct: [], prefetch: [] });
    // Interleave the quotas round by round so machine noise falls on each alike.
    for (let r = 0; r < ROUNDS; r++)
      for (const way of ['direct', 'prefetch'] as const)
        for (const q of QUOTAS) {
          const bucket = `${way}-${r}-${process.pid}`;
          const round = way === 'direct' ? directRound : prefetchRound;
          results.get(q.name)![way].push(await round(stubs, q.name, bucket));
        }
    const continuous = [...(await continuousFixed(stubs, `continuous-${process.pid}`)).entries()].sort(
      ([a], [b]) => a - b,
    );
    for (const s of stubs) s.close();

    console.log(
      `Quota across ${REPLICAS} mixer replicas: limit ${LIMIT} per ${WINDOW_MS / 1000} s window, ${ROUNDS} windows ` +
        `per case, ${CONCURRENCY} concurrent callers, sending for ${(WINDOW_MS - STOP_BEFORE_END_MS) / 1000} s of each window`,
    );
    let redisOver = 0;
    for (const way of ['direct', 'prefetch'] as const) {
      console.log(
        way === 'direct'
          ? '  direct Checks (1 unit each):            admitted per window    over-admission   attempts/window'
          : '  mixer-client quota prefetch (9 clients): admitted per window    over-admission   attempts/window',
      );
      const memOver = Math.max(...results.get('memoryquota')![way].map((x) => x.admitted - LIMIT));
      for (const q of QUOTAS) {
        const rounds = results.get(q.name)![way];
        const over = Math.max(0, ...rounds.map((x) => x.admitted - LIMIT));
        if (q.name !== 'memoryquota') redisOver = Math.max(redisOver, over);
        const admitted = rounds.map((x) => String(x.admitted).padStart(4)).join(' ');
        const ratio = Math.max(...rounds.map((x) => x.admitted)) / LIMIT;
        const attempts = Math.round(rounds.reduce((s, x) => s + x.attempts, 0) / rounds.length);
        console.log(
          `    ${q.label}  ${admitted.padEnd(20)} ${`+${over} (${ratio.toFixed(2)}× limit)`.padEnd(18)} ${attempts}`,
        );
      }
      if (memOver <= 0)
        console.log('    (memquota did not over-admit: the replicas did not all see enough demand this run)');
    }
    const continuousOver = Math.max(0, ...continuous.map(([, n]) => n - LIMIT));
    redisOver = Math.max(redisOver, continuousOver);
    console.log(
      `  redisquota FIXED_WINDOW, one bucket hammered without pause across ${CONTINUOUS_WINDOWS} boundaries ` +
        `(direct): admitted per window ${continuous.map(([, n]) => n).join(' ')}, over-admission +${continuousOver}`,
    );
    console.log(`  redisquota over-admission, worst window: ${redisOver} (goal 0)`);
    if (redisOver > 0) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

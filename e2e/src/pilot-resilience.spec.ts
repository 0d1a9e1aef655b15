// Pilot end to end, continued, with the real grpc-js-xds client: retries, endpoint removal, and the
// control plane failing under a running client. Galley and pilot run as their own processes here (not under
// `flotilla up`, which stops the whole mesh when one app dies) so that each can be killed and started again on
// the same ports. grpc-js-xds keeps one xDS client per process, so this file is its only user in its jest worker.
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import { freePorts, startWhoServer, waitFor } from '@flotilla/testing';
import { WHO_SERVICE, callWho } from './fixtures';
import { WORKSPACE_ROOT, appPortArgs, spawnApp } from './support';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
const NODE_ID = 'sidecar~127.0.0.1~productpage-resilience.bookinfo~bookinfo.svc.cluster.local';

/** n calls: how many each backend answered, and failures by status name. */
async function tally(client: grpc.Client, n: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const key = await callWho(client);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** The routing file: the example's DestinationRule and a VirtualService whose `http` is given as YAML lines. */
function routing(http: string[]): string {
  const dr = readFileSync(join(WORKSPACE_ROOT, 'examples', 'bookinfo', 'routing.yaml'), 'utf8').split(
    '---',
  )[0];
  return [
    dr.trimEnd(),
    '---',
    'apiVersion: networking.istio.io/v1',
    'kind: VirtualService',
    'metadata: { name: reviews, namespace: bookinfo }',
    'spec:',
    `  hosts: [${REVIEWS}]`,
    '  http:',
    ...http.map((l) => `    ${l}`),
    '',
  ].join('\n');
}

const toSubset = (subset: string) => `- destination: { host: ${REVIEWS}, subset: ${subset} }`;

describe('pilot resilience with the real grpc-js-xds client', () => {
  const servers: grpc.Server[] = [];
  const apps = new Map<'galley' | 'pilot', ChildProcess>();
  let config: string;
  let workloads: string;
  let ports: {
    galleyGrpc: number;
    galleyMonitoring: number;
    pilotGrpc: number;
    pilotMonitoring: number;
    xds: number;
    v1: number;
    v2: number;
    flaky: number;
  };
  let flakyCalls: () => number;
  let client: grpc.Client;

  async function start(app: 'galley' | 'pilot'): Promise<void> {
    const args =
      app === 'galley'
        ? [...appPortArgs(ports.galleyGrpc, ports.galleyMonitoring), '--config-dir', config]
        : [
            ...appPortArgs(ports.pilotGrpc, ports.pilotMonitoring),
            '--xds-port',
            String(ports.xds),
            '--galley-address',
            `127.0.0.1:${ports.galleyGrpc}`,
          ];
    const monitoring = app === 'galley' ? ports.galleyMonitoring : ports.pilotMonitoring;
    apps.set(app, await spawnApp(app, args, monitoring));
  }

  async function kill(app: 'galley' | 'pilot'): Promise<void> {
    const child = apps.get(app)!;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    apps.delete(app);
  }

  const writeRouting = (http: string[]) => writeFileSync(join(config, 'routing.yaml'), routing(http));
  const until = (what: string, probe: (t: Record<string, number>) => boolean, n = 10) =>
    waitFor(what, async () => probe(await tally(client, n)), 20_000, 50);

  beforeAll(async () => {
    const p = await freePorts(8);
    ports = {
      galleyGrpc: p[0],
      galleyMonitoring: p[1],
      pilotGrpc: p[2],
      pilotMonitoring: p[3],
      xds: p[4],
      v1: p[5],
      v2: p[6],
      flaky: p[7],
    };
    servers.push(
      (await startWhoServer('reviews-v1', ports.v1)).server,
      (await startWhoServer('reviews-v2', ports.v2)).server,
    );
    const flaky = await startWhoServer('reviews-flaky', ports.flaky, 2);
    servers.push(flaky.server);
    flakyCalls = flaky.calls;
    config = mkdtempSync(join(tmpdir(), 'flotilla-pilot-resilience-'));
    cpSync(join(WORKSPACE_ROOT, 'examples', 'bookinfo'), config, { recursive: true });
    workloads = join(config, 'workloads.yaml');
    writeFileSync(
      workloads,
      readFileSync(workloads, 'utf8')
        .replace('grpc: 19082', `grpc: ${ports.v1}`)
        .replace('grpc: 19083', `grpc: ${ports.v2}`),
    );
    writeRouting(['- route:', `    ${toSubset('v1')}`]);
    await start('galley');
    await start('pilot');
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [
        {
          server_uri: `127.0.0.1:${ports.xds}`,
          channel_creds: [{ type: 'insecure' }],
          server_features: ['xds_v3'],
        },
      ],
      node: { id: NODE_ID, locality: { region: 'local', zone: 'zone-a' }, metadata: { GENERATOR: 'grpc' } },
    });
    registerXdsResolver();
    client = new (grpc.makeGenericClientConstructor(WHO_SERVICE, 'Who'))(
      `xds:///${REVIEWS}:9080`,
      grpc.credentials.createInsecure(),
    );
    await until('traffic on v1', (t) => t['reviews-v1'] === 10);
  }, 90_000);

  afterAll(async () => {
    client?.close();
    for (const app of [...apps.keys()]) await kill(app);
    for (const s of servers) s.forceShutdown();
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
  });

  it('retries UNAVAILABLE on a backend failing every other call, and fails calls without retries', async () => {
    // v2 moves to the flaky backend (an endpoint-only change), and the route sends everything there.
    writeFileSync(
      workloads,
      readFileSync(workloads, 'utf8').replace(`grpc: ${ports.v2}`, `grpc: ${ports.flaky}`),
    );
    writeRouting(['- route:', `    ${toSubset('v2')}`, '  retries: { attempts: 3, retryOn: unavailable }']);
    await until('traffic on the flaky backend', (t) => (t['reviews-flaky'] ?? 0) > 0);
    const before = flakyCalls();
    expect(await tally(client, 20)).toEqual({ 'reviews-flaky': 20 });
    // Every other attempt fails, so 20 successful calls took more than 20 attempts: the client retried.
    expect(flakyCalls() - before).toBeGreaterThan(25);

    writeRouting(['- route:', `    ${toSubset('v2')}`, '  retries: { attempts: 0 }']);
    await until('failures without retries', (t) => (t['error:UNAVAILABLE'] ?? 0) >= 3, 10);
  });

  it('aborts calls with the fault a VirtualService injects, and stops when it is removed', async () => {
    writeRouting([
      '- route:',
      `    ${toSubset('v1')}`,
      '  fault: { abort: { grpcStatus: RESOURCE_EXHAUSTED, percentage: { value: 100 } } }',
    ]);
    await until('calls aborted by the fault filter', (t) => t['error:RESOURCE_EXHAUSTED'] === 10);
    writeRouting(['- route:', `    ${toSubset('v1')}`]);
    await until('calls through again', (t) => t['reviews-v1'] === 10);
  });

  it('stops sending to a removed endpoint (WorkloadEntry deleted)', async () => {
    // Back to both versions round-robin through the service's own cluster (no subset)...
    writeFileSync(
      workloads,
      readFileSync(workloads, 'utf8').replace(`grpc: ${ports.flaky}`, `grpc: ${ports.v2}`),
    );
    writeRouting(['- route:', `    - destination: { host: ${REVIEWS} }`]);
    await until('traffic on both versions', (t) => t['reviews-v1'] > 0 && t['reviews-v2'] > 0, 20);
    // ...then reviews-v2's WorkloadEntry goes.
    const original = readFileSync(workloads, 'utf8');
    const docs = original.split(/^---$/m);
    writeFileSync(workloads, docs.filter((d) => !/name: reviews-v2\b/.test(d)).join('---'));
    await until('traffic on v1 only', (t) => t['reviews-v1'] === 20, 20);
    writeFileSync(workloads, original);
  });

  it('keeps each user on one backend under a consistent-hash DestinationRule (ring hash on a header)', async () => {
    const ringHash = [
      'apiVersion: networking.istio.io/v1',
      'kind: DestinationRule',
      'metadata: { name: reviews, namespace: bookinfo }',
      'spec:',
      `  host: ${REVIEWS}`,
      '  trafficPolicy:',
      '    loadBalancer: { consistentHash: { httpHeaderName: x-user } }',
      '  subsets:',
      '    - { name: v1, labels: { version: v1 } }',
      '    - { name: v2, labels: { version: v2 } }',
      '---',
      'apiVersion: networking.istio.io/v1',
      'kind: VirtualService',
      'metadata: { name: reviews, namespace: bookinfo }',
      'spec:',
      `  hosts: [${REVIEWS}]`,
      '  http:',
      `    - route: [{ destination: { host: ${REVIEWS} } }]`,
      '',
    ].join('\n');
    writeFileSync(join(config, 'routing.yaml'), ringHash);
    const whoAs = (user: string) => callWho(client, { 'x-user': user });
    // An odd number of users, so that round-robin over two backends cannot pass for stickiness.
    const users = Array.from({ length: 15 }, (_, i) => `user-${i}`);
    // Once the ring is in place every user lands on exactly one backend, call after call.
    let backendsOf = new Map<string, Set<string>>();
    await waitFor(
      'sticky routing for every user',
      async () => {
        backendsOf = new Map();
        for (let round = 0; round < 4; round++) {
          for (const user of users) {
            const backend = await whoAs(user);
            backendsOf.set(user, (backendsOf.get(user) ?? new Set()).add(backend));
          }
        }
        // Spread over both versions (the old route sent everyone to v1; 15 users all hashing to one of two
        // equal backends would be a 1-in-16,384 chance).
        const used = new Set([...backendsOf.values()].flatMap((b) => [...b]));
        return used.size === 2 && [...backendsOf.values()].every((b) => b.size === 1);
      },
      20_000,
      100,
    );
    // Still sticky on a second pass.
    for (const user of users) expect(await whoAs(user)).toBe([...backendsOf.get(user)!][0]);
  });

  it('keeps pilot serving the last config while galley is down, and follows galley once it is back', async () => {
    writeRouting(['- route:', `    ${toSubset('v1')}`]);
    await until('traffic on v1', (t) => t['reviews-v1'] === 10);
    await kill('galley');
    // A new stream to pilot (a reconnecting client) is still answered from pilot's last config.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await tally(client, 10)).toEqual({ 'reviews-v1': 10 });
    const configz = (await (
      await fetch(`http://127.0.0.1:${ports.pilotMonitoring}/debug/configz`)
    ).json()) as {
      kinds: { VirtualService: { name: string }[] };
    };
    expect(configz.kinds.VirtualService.map((v) => v.name)).toEqual(['reviews']);

    writeRouting(['- route:', `    ${toSubset('v2')}`]);
    await start('galley');
    await until('traffic on v2 after galley is back', (t) => t['reviews-v2'] === 10);
    // Pilot follows galley over delta MCP (only changed objects travel), and resynced that way.
    const sinks = (await (await fetch(`http://127.0.0.1:${ports.galleyMonitoring}/debug/syncz`)).json()) as {
      node: { id: string };
      protocol: string;
    }[];
    expect(sinks.filter((s) => s.node.id.startsWith('pilot~')).map((s) => s.protocol)).toEqual(['delta']);
  });

  it('keeps the client on its last config while pilot is down, and resyncs when pilot is back', async () => {
    await kill('pilot');
    // grpc-js-xds keeps the resources it has: calls still succeed without a control plane.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await tally(client, 10)).toEqual({ 'reviews-v2': 10 });

    writeRouting(['- route:', `    ${toSubset('v1')}`]);
    await start('pilot');
    await waitFor(
      'traffic on v1 after pilot is back',
      async () => (await tally(client, 10))['reviews-v1'] === 10,
      60_000,
      200,
    );
    const syncz = (await (
      await fetch(`http://127.0.0.1:${ports.pilotMonitoring}/debug/syncz?proxyID=${NODE_ID}`)
    ).json()) as { types: { nack?: unknown }[] }[];
    expect(syncz).toHaveLength(1);
    expect(syncz[0].types.every((t) => !t.nack)).toBe(true);
  }, 90_000);
});

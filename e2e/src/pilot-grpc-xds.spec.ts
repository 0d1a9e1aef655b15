// Pilot end to end with the real proxyless client: `flotilla up --config <copy of examples/bookinfo>` (galley
// reading the folder, pilot following galley over MCP), real gRPC backends on the ports the WorkloadEntries name,
// and an unmodified @grpc/grpc-js-xds client dialing xds:///reviews.bookinfo.svc.cluster.local:9080 with a
// bootstrap pointing at endpoints.json's pilot.xds. Edits of the folder move its traffic; an invalid file does not.
// grpc-js-xds keeps one xDS client per process, so this file is its only user in its jest worker.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import { callWho, freePorts, startWhoServer, waitFor } from '@flotilla/testing';
import { WHO_SERVICE } from './fixtures';
import { FLOTILLA_BIN, LocalMesh, WORKSPACE_ROOT } from './support';
import type { Endpoints } from './support';

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
const NODE_ID = 'sidecar~127.0.0.1~productpage-e2e.bookinfo~bookinfo.svc.cluster.local';

async function tally(client: grpc.Client, n: number, metadata: Record<string, string> = {}) {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const w = await callWho(client, metadata, 10_000);
    out[w] = (out[w] ?? 0) + 1;
  }
  return out;
}

const flotilla = (args: string[]) =>
  promisify(execFile)(process.execPath, [FLOTILLA_BIN, ...args], { cwd: WORKSPACE_ROOT });

describe('pilot with the real grpc-js-xds client (flotilla up)', () => {
  const servers: grpc.Server[] = [];
  let mesh: LocalMesh;
  let config: string;
  let endpoints: Endpoints;
  let client: grpc.Client;
  let ports: number[];

  beforeAll(async () => {
    ports = await freePorts(3);
    servers.push(
      (await startWhoServer('reviews-v1', ports[0])).server,
      (await startWhoServer('reviews-v2', ports[1])).server,
    );
    config = mkdtempSync(join(tmpdir(), 'flotilla-pilot-e2e-'));
    cpSync(join(WORKSPACE_ROOT, 'examples', 'bookinfo'), config, { recursive: true });
    const workloads = join(config, 'workloads.yaml');
    writeFileSync(
      workloads,
      readFileSync(workloads, 'utf8')
        .replace('grpc: 19082', `grpc: ${ports[0]}`)
        .replace('grpc: 19083', `grpc: ${ports[1]}`),
    );
    mesh = await LocalMesh.start(['--config', config]);
    endpoints = await waitFor('endpoints.json', () => mesh.readEndpoints(), 60_000, 200);
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [
        {
          server_uri: endpoints.pilot.xds,
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
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await mesh?.stop('SIGKILL');
    for (const s of servers) s.forceShutdown();
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
  });

  it('sees the header match (end-user: tester → v2) and the 80/20 split', async () => {
    expect(await tally(client, 10, { 'end-user': 'tester' })).toEqual({ 'reviews-v2': 10 });
    const split = await tally(client, 200);
    expect(split['reviews-v1']).toBeGreaterThan(125);
    expect(split['reviews-v2']).toBeGreaterThan(15);
  });

  it('shows the client SYNCED in `flotilla proxy-status` and its listener in `flotilla proxy-config`', async () => {
    const status = await flotilla(['proxy-status', '--state', mesh.stateDir]);
    const row = status.stdout.split('\n').find((l) => l.startsWith(NODE_ID))!;
    expect(row.split(/\s{2,}/).slice(1, 5)).toEqual(['SYNCED', 'SYNCED', 'SYNCED', 'SYNCED']);
    const listeners = await flotilla([
      'proxy-config',
      '--state',
      mesh.stateDir,
      '--proxy',
      NODE_ID,
      '--type',
      'listeners',
    ]);
    const dump = JSON.parse(listeners.stdout) as { dynamicListeners: { name: string }[] };
    expect(dump.dynamicListeners.map((l) => l.name)).toEqual([`${REVIEWS}:9080`]);
  });

  it('follows an edit of the VirtualService (all to v2), and an invalid file beside it never reaches the client', async () => {
    const routing = join(config, 'routing.yaml');
    writeFileSync(
      routing,
      readFileSync(routing, 'utf8').replace('weight: 80', 'weight: 0').replace('weight: 20', 'weight: 100'),
    );
    const edited = Date.now();
    await waitFor(
      'all traffic on v2',
      async () => ((await tally(client, 5))['reviews-v2'] === 5 ? true : undefined),
      10_000,
      20,
    );
    const followMs = Date.now() - edited;
    expect(followMs).toBeLessThan(5_000);
    process.stdout.write(`pilot e2e: the client followed the VirtualService edit in ${followMs} ms\n`);

    writeFileSync(
      join(config, 'broken.yaml'),
      [
        'apiVersion: networking.istio.io/v1',
        'kind: VirtualService',
        'metadata: { name: reviews-broken, namespace: bookinfo }',
        'spec:',
        `  hosts: [${REVIEWS}]`,
        '  http:',
        '    - route:',
        `        - destination: { host: ${REVIEWS}, subset: v1 }`,
        '          weight: not-a-number',
        '',
      ].join('\n'),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(await tally(client, 20)).toEqual({ 'reviews-v2': 20 });
    const configz = (await (await fetch(`${endpoints.pilot.debug}/debug/configz`)).json()) as {
      kinds: { VirtualService: { name: string }[] };
    };
    expect(configz.kinds.VirtualService.map((v) => v.name)).toEqual(['reviews']);
    const syncz = (await (await fetch(`${endpoints.pilot.debug}/debug/syncz?proxyID=${NODE_ID}`)).json()) as {
      types: { nack?: unknown }[];
    }[];
    expect(syncz[0].types.every((t) => !t.nack)).toBe(true);
  });

  it('follows a WorkloadEntry edit (v2 moves to a new process) with an endpoint-only push', async () => {
    servers.push((await startWhoServer('reviews-v2-moved', ports[2])).server);
    const workloads = join(config, 'workloads.yaml');
    writeFileSync(
      workloads,
      readFileSync(workloads, 'utf8').replace(`grpc: ${ports[1]}`, `grpc: ${ports[2]}`),
    );
    await waitFor(
      'traffic on the moved v2',
      async () => ((await tally(client, 5))['reviews-v2-moved'] === 5 ? true : undefined),
      10_000,
      20,
    );
    const metrics = await (await fetch(endpoints.pilot.metrics)).text();
    expect(metrics).toMatch(/pilot_push_triggers_total\{type="endpoint"\} [1-9]/);
  });
});

// An xDS-enabled gRPC server (gRFC A36) configured by pilot: grpc-js-xds's own XdsServer asks pilot for
// "xds.istio.io/grpc/lds/inbound/<ip>:<port>" and enforces the RBAC pilot builds from an AuthorizationPolicy, and
// follows the policy when it changes. grpc-js-xds reads GRPC_XDS_EXPERIMENTAL_RBAC when it is loaded, so it is
// loaded after the variable is set; it keeps one xDS client per process, so this file is its only user here.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePorts, waitFor } from '@flotilla/testing';
import { WHO_SERVICE, callWho } from './fixtures';
import { GalleyAndPilot, WORKSPACE_ROOT } from './support';

const SERVER_NODE_ID = 'sidecar~127.0.0.1~reviews-v1.bookinfo~bookinfo.svc.cluster.local';

/** Refuses the Who method to callers sending `x-user: banned`, for the reviews workloads only. */
const DENY_BANNED = [
  'apiVersion: security.istio.io/v1',
  'kind: AuthorizationPolicy',
  'metadata: { name: deny-banned, namespace: bookinfo }',
  'spec:',
  '  selector: { matchLabels: { app: reviews } }',
  '  action: DENY',
  '  rules:',
  '    - to: [{ operation: { paths: [/flotilla.test.Who/*] } }]',
  '      when: [{ key: "request.headers[x-user]", values: [banned] }]',
  '',
].join('\n');

describe('an xDS-enabled gRPC server under pilot’s AuthorizationPolicy', () => {
  let controlPlane: GalleyAndPilot;
  let config: string;
  let server: grpc.Server;
  let client: grpc.Client;
  let port: number;

  const callAs = (user: string) => callWho(client, { 'x-user': user });

  beforeAll(async () => {
    [port] = await freePorts(1);
    config = mkdtempSync(join(tmpdir(), 'flotilla-xds-server-'));
    cpSync(join(WORKSPACE_ROOT, 'examples', 'bookinfo'), config, { recursive: true });
    const workloads = join(config, 'workloads.yaml');
    writeFileSync(workloads, readFileSync(workloads, 'utf8').replace('grpc: 19082', `grpc: ${port}`));
    writeFileSync(join(config, 'authz.yaml'), DENY_BANNED);
    controlPlane = await GalleyAndPilot.start(config);

    process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [
        {
          server_uri: controlPlane.xds,
          channel_creds: [{ type: 'insecure' }],
          server_features: ['xds_v3'],
        },
      ],
      node: {
        id: SERVER_NODE_ID,
        locality: { region: 'local', zone: 'zone-a' },
        metadata: { GENERATOR: 'grpc' },
      },
      server_listener_resource_name_template: 'xds.istio.io/grpc/lds/inbound/%s',
    });
    const grpcXds = await import('@grpc/grpc-js-xds');
    grpcXds.register(); // registers the HTTP filters (router, RBAC…) the server's listener names
    server = new grpcXds.XdsServer();
    server.addService(WHO_SERVICE, {
      who: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) =>
        callback(null, Buffer.from('reviews-v1')),
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }, 90_000);

  afterAll(() => {
    client?.close();
    server?.forceShutdown();
    controlPlane?.stop();
    rmSync(config, { recursive: true, force: true });
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
    delete process.env.GRPC_XDS_EXPERIMENTAL_RBAC;
  });

  it('serves with the listener pilot sends, refusing exactly what the DENY policy names', async () => {
    // The server only accepts calls once its listener has arrived from pilot.
    await waitFor('the server serving', async () => (await callAs('alice')) === 'reviews-v1', 20_000, 100);
    expect(await callAs('banned')).toBe('error:PERMISSION_DENIED');
    expect(await callAs('bob')).toBe('reviews-v1');
  });

  it('follows a policy change: removed, the banned user is served', async () => {
    rmSync(join(config, 'authz.yaml'));
    await waitFor('the policy gone', async () => (await callAs('banned')) === 'reviews-v1', 20_000, 100);
    writeFileSync(join(config, 'authz.yaml'), DENY_BANNED);
    await waitFor(
      'the policy back',
      async () => (await callAs('banned')) === 'error:PERMISSION_DENIED',
      20_000,
      100,
    );
    expect(await callAs('carol')).toBe('reviews-v1');
  });
});

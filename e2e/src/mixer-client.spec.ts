// The mixer client library against a real mixer process over gRPC (istio.mixer.v1.Mixer Check and Report).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MixerClient, attributesOf, grpcTransport, withMixer } from '@flotilla/mixer-client';
import { health, mixerService } from '@flotilla/proto';
import { freePorts } from '@flotilla/testing';
import { DENY_BANNED } from './fixtures';
import { startMixer } from './support';

const LIMIT = 25;

const CONFIG = `${DENY_BANNED}---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: localquota
  namespace: istio-system
spec:
  compiledAdapter: memquota
  params:
    quotas:
    - name: requestcount.istio-system
      maxAmount: ${LIMIT}
      validDuration: 60s
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: requestcount
  namespace: istio-system
spec:
  compiledTemplate: quota
  params:
    dimensions:
      path: request.path | "none"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: quota
  namespace: istio-system
spec:
  actions:
  - handler: localquota
    instances: [requestcount]
`;

describe('mixer client over gRPC against a real mixer', () => {
  let child: ChildProcess;
  let grpcClient: mixerService.MixerClient;

  beforeAll(async () => {
    const configDir = mkdtempSync(join(tmpdir(), 'flotilla-mixer-client-'));
    writeFileSync(join(configDir, 'config.yaml'), CONFIG);
    const [grpcPort, monitoringPort] = await freePorts(2);
    let address: string;
    ({ child, address } = await startMixer(configDir, grpcPort, monitoringPort));
    grpcClient = new mixerService.MixerClient(address, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    grpcClient?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  const transport = () => grpcTransport(grpcClient, { newMetadata: () => new grpc.Metadata() });
  const request = (user: string, path = '/productpage') =>
    attributesOf({ 'request.path': path, 'request.headers': { host: 'productpage', 'x-user': user } });

  it('caches on the referenced header: repeated users are answered locally, a new one asks mixer', async () => {
    const client = new MixerClient(transport());
    expect(await client.check(request('alice'))).toMatchObject({ code: 0, cached: false });
    expect(await client.check(request('alice', '/other'))).toMatchObject({ code: 0, cached: true });
    expect(await client.check(request('banned'))).toMatchObject({
      code: 7,
      message: 'user is banned',
      cached: false,
    });
    expect(await client.check(request('banned'))).toMatchObject({ code: 7, cached: true });
    expect(client.remoteChecks).toBe(2);
  });

  it(`admits exactly ${LIMIT} of ${LIMIT * 2} requests through prefetched quota, with far fewer calls`, async () => {
    const client = new MixerClient(transport(), { quota: { closeWaitWindowMs: 60_000 } });
    let admitted = 0;
    for (let i = 0; i < LIMIT * 2; i++)
      if ((await client.check(request('alice'), [{ name: 'requestcount.istio-system' }])).code === 0)
        admitted++;
    expect(admitted).toBe(LIMIT);
    expect(client.remoteChecks).toBeLessThan(LIMIT / 2);
  });

  it('sends batched reports that mixer accepts, flushed by close()', async () => {
    const errors: unknown[] = [];
    const client = new MixerClient(transport(), { report: { onError: (e) => errors.push(e) } });
    for (let i = 0; i < 150; i++)
      client.report(attributesOf({ 'request.path': `/p${i}`, 'response.code': 200 }));
    await client.close();
    expect(errors).toEqual([]);
  });

  it('guards a workload gRPC server as an interceptor: a banned caller gets PERMISSION_DENIED', async () => {
    const client = new MixerClient(transport());
    const server = new grpc.Server();
    server.addService(health.HealthService, {
      check: withMixer(
        client,
        (_call, callback) => callback(null, { status: health.HealthCheckResponse_ServingStatus.SERVING }),
        { attributes: { 'destination.service.host': 'reviews.default.svc.cluster.local' } },
      ),
      watch: (call) => call.end(),
    } satisfies health.HealthServer);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const caller = new health.HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const ask = (user: string) =>
      new Promise<grpc.ServiceError | health.HealthCheckResponse>((resolve) => {
        const md = new grpc.Metadata();
        md.set('x-user', user);
        caller.check(health.HealthCheckRequest.fromPartial({}), md, (err, res) => resolve(err ?? res));
      });
    try {
      expect(await ask('alice')).toMatchObject({ status: health.HealthCheckResponse_ServingStatus.SERVING });
      expect(await ask('banned')).toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
        details: 'user is banned',
      });
    } finally {
      caller.close();
      await client.close();
      server.forceShutdown();
    }
  });
});

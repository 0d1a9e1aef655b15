import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { accessLogService, externalAuth } from '@flotilla/proto';
import { freePorts, waitFor } from '@flotilla/testing';
import { DENY_BANNED } from './fixtures';
import { startMixer } from './support';

const TELEMETRY = (port: number) => `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: prom
  namespace: istio-system
spec:
  compiledAdapter: prometheus
  params:
    host: 127.0.0.1
    port: ${port}
    metrics:
    - name: requests_total
      instanceName: requestcount.istio-system
      kind: COUNTER
      labelNames: [destination_service, response_code]
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: requestcount
  namespace: istio-system
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      destination_service: destination.service.host | "unknown"
      response_code: response.code | 0
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: promhttp
  namespace: istio-system
spec:
  match: context.protocol == "http"
  actions:
  - handler: prom
    instances: [requestcount]
`;

function authzCheck(address: string, headers: Record<string, string>): Promise<externalAuth.CheckResponse> {
  const client = new externalAuth.AuthorizationClient(address, grpc.credentials.createInsecure());
  const req = externalAuth.CheckRequest.fromPartial({
    attributes: { request: { http: { method: 'GET', path: '/productpage', host: 'productpage', headers } } },
  });
  return new Promise((resolve, reject) =>
    client.check(req, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

describe('mixer with a config folder (ext_authz v3 from a plain gRPC client)', () => {
  let child: ChildProcess;
  let address: string;
  let configDir: string;
  let promUrl: string;

  beforeAll(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'flotilla-mixer-config-'));
    writeFileSync(join(configDir, 'deny-banned.yaml'), DENY_BANNED);
    const [grpcPort, monitoringPort, promPort] = await freePorts(3);
    promUrl = `http://127.0.0.1:${promPort}/metrics`;
    writeFileSync(join(configDir, 'telemetry.yaml'), TELEMETRY(promPort));
    ({ child, address } = await startMixer(configDir, grpcPort, monitoringPort));
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('denies the banned user with PERMISSION_DENIED and an HTTP 403 carrying the denier message', async () => {
    const res = await authzCheck(address, { 'x-user': 'banned' });
    expect(res.status).toMatchObject({ code: grpc.status.PERMISSION_DENIED, message: 'user is banned' });
    expect(res.deniedResponse).toMatchObject({ status: { code: 403 }, body: 'user is banned' });
  });

  it('allows any other user, and requests without the header', async () => {
    expect((await authzCheck(address, { 'x-user': 'alice' })).status!.code).toBe(grpc.status.OK);
    expect((await authzCheck(address, {})).status!.code).toBe(grpc.status.OK);
  });

  it('turns HTTP access logs (ALS) into prometheus metrics that promtool accepts', async () => {
    const client = new accessLogService.AccessLogServiceClient(address, grpc.credentials.createInsecure());
    await new Promise<void>((resolve, reject) => {
      const stream = client.streamAccessLogs((err) => (err ? reject(err) : resolve()));
      const entry = (code: number) => ({
        commonProperties: { upstreamCluster: 'outbound|9080||reviews.default.svc.cluster.local' },
        request: { requestMethod: 1, path: '/reviews/0', authority: 'reviews:9080' },
        response: { responseCode: code },
      });
      stream.write(
        accessLogService.StreamAccessLogsMessage.fromPartial({
          httpLogs: { logEntry: [entry(200), entry(200), entry(503)] },
        }),
      );
      stream.end();
    });
    client.close();
    const text = await (await fetch(promUrl)).text();
    expect(text).toContain(
      'istio_requests_total{destination_service="reviews.default.svc.cluster.local",response_code="200"} 2',
    );
    expect(text).toContain(
      'istio_requests_total{destination_service="reviews.default.svc.cluster.local",response_code="503"} 1',
    );
    execFileSync('promtool', ['check', 'metrics'], { input: text });
  });

  it('applies a changed config folder without a restart', async () => {
    writeFileSync(join(configDir, 'deny-banned.yaml'), DENY_BANNED.replace('"banned"', '"alice"'));
    await waitFor(
      'the new rule to apply',
      async () =>
        (await authzCheck(address, { 'x-user': 'alice' })).status!.code === grpc.status.PERMISSION_DENIED,
      10_000,
    );
    expect((await authzCheck(address, { 'x-user': 'banned' })).status!.code).toBe(grpc.status.OK);
  });
});

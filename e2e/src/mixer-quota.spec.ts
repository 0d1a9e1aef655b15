import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { health, rateLimitService } from '@flotilla/proto';
import { freePorts, waitFor } from '@flotilla/testing';
import { WORKSPACE_ROOT, healthStatus } from './support';

const MIXER_MAIN = join(WORKSPACE_ROOT, 'apps', 'mixer', 'dist', 'main.js');
const LIMIT = 20;

const QUOTA_CONFIG = (redisPort: number) => `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: sharedquota
  namespace: istio-system
spec:
  compiledAdapter: redisquota
  params:
    redisServerUrl: 127.0.0.1:${redisPort}
    quotas:
    - name: ratelimit.istio-system
      maxAmount: ${LIMIT}
      validDuration: 60s
      rateLimitAlgorithm: FIXED_WINDOW
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: ratelimit
  namespace: istio-system
spec:
  compiledTemplate: quota
  params:
    dimensions:
      path: ratelimit.descriptor["path"] | "none"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: quota
  namespace: istio-system
spec:
  actions:
  - handler: sharedquota
    instances: [ratelimit]
`;

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [MIXER_MAIN, ...args], {
    stdio: 'ignore',
    env: { ...process.env, NO_COLOR: '1' },
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe('quota shared by two mixer replicas through one Redis (Envoy rate-limit API)', () => {
  let redis: ChildProcess;
  const mixers: ChildProcess[] = [];
  const addresses: string[] = [];

  beforeAll(async () => {
    const [redisPort, g1, m1, g2, m2] = await freePorts(5);
    redis = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await waitFor(
      'redis-server to listen',
      () =>
        new Promise<boolean>((resolve) => {
          const socket = createConnection(redisPort, '127.0.0.1');
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(false));
        }),
    );
    const configDir = mkdtempSync(join(tmpdir(), 'flotilla-mixer-quota-'));
    writeFileSync(join(configDir, 'quota.yaml'), QUOTA_CONFIG(redisPort));
    for (const [g, m] of [
      [g1, m1],
      [g2, m2],
    ]) {
      mixers.push(
        start([
          '--host',
          '127.0.0.1',
          '--grpc-port',
          String(g),
          '--monitoring-port',
          String(m),
          '--config-dir',
          configDir,
        ]),
      );
      addresses.push(`127.0.0.1:${g}`);
    }
    for (const a of addresses)
      await waitFor(
        `mixer ${a}`,
        async () => (await healthStatus(a)) === health.HealthCheckResponse_ServingStatus.SERVING,
        20_000,
      );
  });

  afterAll(async () => {
    for (const m of mixers) await stop(m);
    await stop(redis);
  });

  it(`admits exactly ${LIMIT} of ${LIMIT * 3} concurrent requests spread over both replicas`, async () => {
    const clients = addresses.map(
      (a) => new rateLimitService.RateLimitServiceClient(a, grpc.credentials.createInsecure()),
    );
    const ask = (i: number) =>
      new Promise<rateLimitService.RateLimitResponse>((resolve, reject) =>
        clients[i % 2].shouldRateLimit(
          rateLimitService.RateLimitRequest.fromPartial({
            domain: 'ratelimit',
            descriptors: [{ entries: [{ key: 'path', value: '/reviews' }] }],
          }),
          (err, res) => (err ? reject(err) : resolve(res)),
        ),
      );
    const answers = await Promise.all(Array.from({ length: LIMIT * 3 }, (_, i) => ask(i)));
    for (const c of clients) c.close();
    const ok = answers.filter((a) => a.overallCode === rateLimitService.RateLimitResponse_Code.OK);
    const over = answers.filter((a) => a.overallCode === rateLimitService.RateLimitResponse_Code.OVER_LIMIT);
    expect(ok).toHaveLength(LIMIT);
    expect(over).toHaveLength(LIMIT * 2);
    expect(over[0].statuses[0].currentLimit).toMatchObject({
      requestsPerUnit: LIMIT,
      unit: rateLimitService.RateLimitResponse_RateLimit_Unit.MINUTE,
    });
  });
});

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { externalAuth, health } from '@flotilla/proto';
import { freePorts, waitFor } from '@flotilla/testing';
import { WORKSPACE_ROOT, healthStatus, startMixer } from './support';

const SERVE_BIN = join(WORKSPACE_ROOT, 'libs', 'mixer-adapter-sdk', 'bin', 'mixer-adapter-serve.js');

/**
 * The list adapter (an ordinary SDK adapter package) run as its own process by the SDK's mixer-adapter-serve,
 * resolved once it logs that it serves.
 */
async function startAdapterProcess(port: number): Promise<ChildProcess> {
  const output: string[] = [];
  const child = spawn(process.execPath, [SERVE_BIN, '@flotilla/mixer-adapter-list', '--port', String(port)], {
    cwd: WORKSPACE_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => output.push(b.toString()));
  // Fail at once, with its output, when the process exits instead of serving.
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the adapter process exited with ${code}`))),
  );
  exited.catch(() => undefined); // the exit after a deliberate stop is expected
  await Promise.race([
    waitFor('the adapter process to serve', () => output.join('').includes('serving adapter'), 15_000),
    exited,
  ]).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${output.join('')}`);
  });
  return child;
}

async function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/**
 * A handler served out of process (Istio 1.4's `adapter` + `connection.address`): mixer has no adapter named
 * "banlist"; it calls /listentry.HandleListEntryService/HandleListEntry at the address with the params.
 */
const OOP_BANLIST = (adapterAddress: string) => `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: banlist
  namespace: istio-system
spec:
  adapter: banlist
  connection:
    address: "${adapterAddress}"
    timeout: 1s
  params:
    blacklist: true
    overrides: [banned]
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: user
  namespace: istio-system
spec:
  compiledTemplate: listentry
  params:
    value: request.headers["x-user"] | "anonymous"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: banusers
  namespace: istio-system
spec:
  actions:
  - handler: banlist
    instances: [user]
`;

function authzCheck(address: string, user: string): Promise<externalAuth.CheckResponse> {
  const client = new externalAuth.AuthorizationClient(address, grpc.credentials.createInsecure());
  const req = externalAuth.CheckRequest.fromPartial({
    attributes: {
      request: { http: { method: 'GET', path: '/reviews/1', host: 'reviews', headers: { 'x-user': user } } },
    },
  });
  return new Promise((resolve, reject) =>
    client.check(req, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

describe('mixer calling an out-of-process adapter over gRPC', () => {
  let mixer: ChildProcess;
  let mixerAddress: string;
  let adapterPort: number;
  let adapter: ChildProcess | undefined;

  beforeAll(async () => {
    const [grpcPort, monitoringPort, port] = await freePorts(3);
    adapterPort = port;
    adapter = await startAdapterProcess(adapterPort);
    const configDir = mkdtempSync(join(tmpdir(), 'flotilla-mixer-oop-'));
    writeFileSync(join(configDir, 'banlist.yaml'), OOP_BANLIST(`127.0.0.1:${adapterPort}`));
    ({ child: mixer, address: mixerAddress } = await startMixer(configDir, grpcPort, monitoringPort));
  });

  afterAll(async () => {
    await stop(adapter);
    await stop(mixer);
  });

  it('denies what the remote list adapter denies, with its message, and allows the rest', async () => {
    const denied = await authzCheck(mixerAddress, 'banned');
    expect(denied.status).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      message: 'banned is blacklisted',
    });
    expect(denied.deniedResponse).toMatchObject({ status: { code: 403 }, body: 'banned is blacklisted' });
    expect((await authzCheck(mixerAddress, 'alice')).status!.code).toBe(grpc.status.OK);
  });

  it('answers UNAVAILABLE naming the handler when the adapter process is killed, stays up, and recovers', async () => {
    await stop(adapter, 'SIGKILL');
    const res = await authzCheck(mixerAddress, 'alice');
    expect(res.status!.code).toBe(grpc.status.UNAVAILABLE);
    expect(res.status!.message).toContain(
      `out-of-process adapter of handler banlist.istio-system at 127.0.0.1:${adapterPort} is unreachable`,
    );
    expect(mixer.exitCode).toBeNull();
    expect(await healthStatus(mixerAddress)).toBe(health.HealthCheckResponse_ServingStatus.SERVING);

    adapter = await startAdapterProcess(adapterPort);
    await waitFor(
      'mixer to reach the restarted adapter',
      async () => (await authzCheck(mixerAddress, 'banned')).status!.code === grpc.status.PERMISSION_DENIED,
      15_000,
    );
    expect((await authzCheck(mixerAddress, 'alice')).status!.code).toBe(grpc.status.OK);
  });
});

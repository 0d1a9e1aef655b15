import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { externalAuth, health } from '@flotilla/proto';
import { waitFor } from '@flotilla/testing';
import { LocalMesh, healthStatus } from './support';

const SERVING = health.HealthCheckResponse_ServingStatus.SERVING;

describe('flotilla up (the local mesh)', () => {
  let mesh: LocalMesh;

  beforeAll(async () => {
    mesh = await LocalMesh.start();
  });

  afterAll(async () => {
    await mesh?.stop('SIGKILL');
  });

  it('writes endpoints.json within 15 s, in the documented shape', async () => {
    const endpoints = await waitFor('endpoints.json', () => mesh.readEndpoints(), 15_000);
    expect(Object.keys(endpoints).sort()).toEqual(['citadel', 'galley', 'mixer', 'pilot']);
    expect(Object.keys(endpoints.galley).sort()).toEqual(['grpc', 'metrics']);
    expect(Object.keys(endpoints.pilot).sort()).toEqual(['debug', 'grpc', 'metrics', 'secureXds', 'xds']);
    expect(Object.keys(endpoints.mixer).sort()).toEqual(['grpc', 'metrics', 'prometheus']);
    expect(Object.keys(endpoints.citadel).sort()).toEqual(['grpc', 'metrics', 'rootCert', 'trustBundle']);
    expect(endpoints.citadel.rootCert).toBe(`${mesh.stateDir}/citadel/root-cert.pem`);
    expect(endpoints.citadel.trustBundle).toBe(`${mesh.stateDir}/citadel/trust-bundle.pem`);
    expect(endpoints.galley.grpc).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(endpoints.pilot.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  });

  it('answers SERVING on all gRPC health checks (citadel over TLS with its root)', async () => {
    const e = await waitFor('endpoints.json', () => mesh.readEndpoints());
    expect(await healthStatus(e.galley.grpc)).toBe(SERVING);
    expect(await healthStatus(e.pilot.grpc)).toBe(SERVING);
    expect(await healthStatus(e.pilot.xds)).toBe(SERVING);
    expect(await healthStatus(e.mixer.grpc)).toBe(SERVING);
    expect(await healthStatus(e.citadel.grpc, e.citadel.rootCert)).toBe(SERVING);
    await expect(healthStatus(e.citadel.grpc)).rejects.toThrow(); // plaintext to a TLS port fails
  });

  it('serves /metrics that promtool accepts on all four apps', async () => {
    const e = await waitFor('endpoints.json', () => mesh.readEndpoints());
    for (const url of [e.galley.metrics, e.pilot.metrics, e.mixer.metrics, e.citadel.metrics]) {
      const text = await (await fetch(url)).text();
      expect(text).toContain('flotilla_build_info');
      execFileSync('promtool', ['check', 'metrics'], { input: text });
    }
  });

  it("applies the mesh folder's mixer policy through galley: ext_authz denies x-user: banned, allows others", async () => {
    const e = await waitFor('endpoints.json', () => mesh.readEndpoints());
    const check = (headers: Record<string, string>) => {
      const client = new externalAuth.AuthorizationClient(e.mixer.grpc, grpc.credentials.createInsecure());
      const request = externalAuth.CheckRequest.fromPartial({
        attributes: {
          request: { http: { method: 'GET', path: '/productpage', host: 'productpage', headers } },
        },
      });
      return new Promise<externalAuth.CheckResponse>((resolve, reject) =>
        client.check(request, (err, res) => {
          client.close();
          if (err) reject(err);
          else resolve(res);
        }),
      );
    };
    const denied = await check({ 'x-user': 'banned' });
    expect(denied.status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.deniedResponse?.body).toContain('this user is banned from bookinfo');
    expect((await check({ 'x-user': 'jason' })).status?.code ?? 0).toBe(grpc.status.OK);
  });

  it("serves the prometheus adapter's /metrics at mixer.prometheus, accepted by promtool", async () => {
    const e = await waitFor('endpoints.json', () => mesh.readEndpoints());
    const text = await waitFor('the prometheus adapter', async () =>
      (await fetch(e.mixer.prometheus)).text(),
    );
    execFileSync('promtool', ['check', 'metrics'], { input: text });
  });

  it('fails fast when started again on the same ports, naming the port and the option', async () => {
    await waitFor('endpoints.json', () => mesh.readEndpoints());
    const started = Date.now();
    const second = await LocalMesh.start([], mesh.portArgs);
    const code = await second.exited;
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(second.output.join('\n')).toMatch(
      /port \d+ on 127\.0\.0\.1 is already in use; choose another with --galley-grpc-port/,
    );
  });

  it('stops every app on SIGINT, exits 0, and removes endpoints.json', async () => {
    await waitFor('endpoints.json', () => mesh.readEndpoints());
    expect(mesh.appPids()).toHaveLength(4);
    expect(await mesh.stop('SIGINT')).toBe(0);
    expect(mesh.appPids()).toEqual([]);
    expect(mesh.readEndpoints()).toBeUndefined();
  });
});

describe('flotilla up, killed outright', () => {
  it('leaves no app running when the supervisor is SIGKILLed', async () => {
    const mesh = await LocalMesh.start();
    await waitFor('endpoints.json', () => mesh.readEndpoints(), 15_000);
    expect(mesh.appPids()).toHaveLength(4);
    await mesh.stop('SIGKILL');
    await waitFor('the apps to exit', () => mesh.appPids().length === 0, 15_000);
  });
});

describe('flotilla up, bad input', () => {
  it('refuses a missing config folder with exit 2, naming it', async () => {
    const mesh = await LocalMesh.start(['--config', '/no/such/mesh']);
    expect(await mesh.exited).toBe(2);
    expect(mesh.output.join('\n')).toContain('--config /no/such/mesh: not a directory');
  });

  it('refuses two ports set to the same number', async () => {
    const mesh = await LocalMesh.start(['--mixer-grpc-port', '45000', '--citadel-grpc-port', '45000']);
    expect(await mesh.exited).toBe(2);
    expect(mesh.output.join('\n')).toContain('--citadel-grpc-port and --mixer-grpc-port are both 45000');
  });
});

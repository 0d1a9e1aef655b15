import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { health, mixerService } from '@flotilla/proto';
import { PortInUseError } from './errors';
import { GrpcServer } from './grpc-server';
import { createLogger } from './logging';

const logger = createLogger('test', 'silent');
const { SERVING, NOT_SERVING } = health.HealthCheckResponse_ServingStatus;

function healthCheck(address: string, service = ''): Promise<health.HealthCheckResponse> {
  const client = new health.HealthClient(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.check({ service }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

/** A reflection client from the reflection proto that @grpc/reflection ships: the protocol grpcurl speaks. */
function listServices(address: string): Promise<string[]> {
  const protoPath = join(
    require.resolve('@grpc/reflection/package.json'),
    '..',
    'build/proto/grpc/reflection/v1/reflection.proto',
  );
  const pkg = grpc.loadPackageDefinition(loadSync(protoPath, { keepCase: true })) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on(
      'data',
      (res: { list_services_response?: { service: { name: string }[] }; error_response?: unknown }) => {
        call.end();
        client.close();
        if (res.list_services_response) resolve(res.list_services_response.service.map((s) => s.name).sort());
        else reject(new Error(JSON.stringify(res.error_response)));
      },
    );
    call.on('error', reject);
    call.write({ list_services: '' });
  });
}

describe('GrpcServer', () => {
  let server: GrpcServer;
  afterEach(() => server?.stop(1000));

  function newServer(port = 0) {
    return new GrpcServer({ name: 'grpc', host: '127.0.0.1', port, portOption: '--grpc-port', logger });
  }

  it('answers grpc.health.v1 Check: NOT_SERVING until marked serving, then SERVING, NOT_FOUND for unknown', async () => {
    server = newServer().addService(mixerService.MixerService, {
      check: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED }),
      report: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED }),
    });
    await server.start();
    expect((await healthCheck(server.address)).status).toBe(NOT_SERVING);
    server.markServing();
    expect((await healthCheck(server.address)).status).toBe(SERVING);
    expect((await healthCheck(server.address, 'istio.mixer.v1.Mixer')).status).toBe(SERVING);
    await expect(healthCheck(server.address, 'no.such.Service')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it('streams status changes to Watch callers', async () => {
    server = newServer();
    await server.start();
    const client = new health.HealthClient(server.address, grpc.credentials.createInsecure());
    const seen: number[] = [];
    const call = client.watch({ service: '' });
    call.on('error', () => undefined); // the CANCELLED status our own cancel() causes
    const done = new Promise<void>((resolve) =>
      call.on('data', (res: health.HealthCheckResponse) => {
        seen.push(res.status);
        if (seen.length === 1) server.markServing();
        if (seen.length === 2) resolve();
      }),
    );
    await done;
    call.cancel();
    client.close();
    expect(seen).toEqual([NOT_SERVING, SERVING]);
  });

  it('lists exactly the services it serves through server reflection', async () => {
    server = newServer().addService(mixerService.MixerService, {
      check: () => undefined,
      report: () => undefined,
    });
    await server.start();
    expect(await listServices(server.address)).toEqual(['grpc.health.v1.Health', 'istio.mixer.v1.Mixer']);
  });

  it('fails to start on a taken port with an error naming the port and its option', async () => {
    server = newServer();
    const port = await server.start();
    const second = newServer(port);
    await expect(second.start()).rejects.toThrow(PortInUseError);
    await expect(second.start()).rejects.toThrow(
      `127.0.0.1:${port} is already in use; choose another port with --grpc-port`,
    );
  });

  it('stops within the timeout even when a stream never ends, cancelling it', async () => {
    server = newServer();
    await server.start();
    const client = new health.HealthClient(server.address, grpc.credentials.createInsecure());
    const call = client.watch({ service: 'never-ending' });
    const ended = new Promise<grpc.ServiceError | null>((resolve) => {
      call.on('error', (e: grpc.ServiceError) => resolve(e));
      call.on('end', () => resolve(null));
    });
    await new Promise((r) => call.once('data', r));
    const started = Date.now();
    await server.stop(300);
    await ended;
    client.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

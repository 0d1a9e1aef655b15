import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePorts, waitFor } from '@flotilla/testing';
import { WORKSPACE_ROOT, healthStatus } from './support';

/**
 * A test double of an OpenTelemetry collector: the OTLP/gRPC TraceService on loopback, keeping each
 * ExportTraceServiceRequest's bytes and answering with an empty ExportTraceServiceResponse.
 */
async function startCollectorDouble() {
  const requests: Buffer[] = [];
  const server = new grpc.Server();
  const identity = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
  server.addService(
    {
      export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity.serialize,
        requestDeserialize: identity.deserialize,
        responseSerialize: identity.serialize,
        responseDeserialize: identity.deserialize,
      },
    },
    {
      export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        requests.push(call.request);
        callback(null, Buffer.alloc(0));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, requests, stop: () => server.forceShutdown() };
}

describe('tracing', () => {
  it('exports server spans of gRPC calls over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const collector = await startCollectorDouble();
    const [grpcPort, monitoringPort] = await freePorts(2);
    const galley = spawn(
      process.execPath,
      [
        join(WORKSPACE_ROOT, 'apps/galley/dist/main.js'),
        '--host',
        '127.0.0.1',
        '--grpc-port',
        String(grpcPort),
        '--monitoring-port',
        String(monitoringPort),
        '--log-level',
        'warn',
      ],
      {
        stdio: 'ignore',
        env: {
          ...process.env,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}`,
          OTEL_BSP_SCHEDULE_DELAY: '100',
        },
      },
    );
    const exited = new Promise((r) => galley.once('exit', r));
    try {
      await waitFor('galley ready', async () => (await fetch(`http://127.0.0.1:${monitoringPort}/ready`)).ok);
      await healthStatus(`127.0.0.1:${grpcPort}`);
      const exported = await waitFor('a span export', () => {
        const all = Buffer.concat(collector.requests).toString('latin1');
        return all.includes('grpc.health.v1.Health/Check') ? all : undefined;
      });
      expect(exported).toContain('flotilla-galley');
    } finally {
      galley.kill('SIGTERM');
      await exited;
      collector.stop();
    }
  });

  it('exports nothing and starts normally when no endpoint is set', async () => {
    const [grpcPort, monitoringPort] = await freePorts(2);
    const env = { ...process.env };
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    const galley = spawn(
      process.execPath,
      [
        join(WORKSPACE_ROOT, 'apps/galley/dist/main.js'),
        '--host',
        '127.0.0.1',
        '--grpc-port',
        String(grpcPort),
        '--monitoring-port',
        String(monitoringPort),
      ],
      { stdio: 'ignore', env },
    );
    const exited = new Promise<number | null>((r) => galley.once('exit', (code) => r(code)));
    await waitFor('galley ready', async () => (await fetch(`http://127.0.0.1:${monitoringPort}/ready`)).ok);
    galley.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

import { Component } from './component';
import { GrpcServer } from './grpc-server';
import { createLogger } from './logging';
import { createMetricsRegistry } from './metrics';
import { MonitoringServer } from './monitoring-server';

const logger = createLogger('test', 'silent');

describe('Component', () => {
  it('runs beforeDrain before the gRPC servers drain, and onStop after, then closes the monitoring server', async () => {
    const metrics = createMetricsRegistry('test', '0.0.0');
    const monitoring = new MonitoringServer({
      component: 'test',
      host: '127.0.0.1',
      port: 0,
      portOption: '--m',
      registry: metrics,
      logger,
    });
    const grpc = new GrpcServer({ name: 'grpc', host: '127.0.0.1', port: 0, portOption: '--g', logger });
    const order: string[] = [];
    const stopGrpc = grpc.stop.bind(grpc);
    grpc.stop = async (timeoutMs: number) => {
      order.push('grpc drain');
      await stopGrpc(timeoutMs);
    };
    const component = new Component({
      name: 'test',
      logger,
      metrics,
      monitoring,
      grpcServers: [grpc],
      beforeDrain: () => void order.push('beforeDrain'),
      onStop: async () => void order.push('onStop'),
    });
    await component.start();
    const ready = `http://127.0.0.1:${monitoring.boundPort}/ready`;
    expect((await fetch(ready)).status).toBe(200);
    await component.stop(1000);
    expect(order).toEqual(['beforeDrain', 'grpc drain', 'onStop']);
    await expect(fetch(ready)).rejects.toThrow();
  });
});

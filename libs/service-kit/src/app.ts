import type { ServerCredentials } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { Component } from './component';
import { GrpcServer } from './grpc-server';
import { createLogger } from './logging';
import type { Logger } from './logging';
import { createMetricsRegistry } from './metrics';
import { MonitoringServer } from './monitoring-server';
import type { CommonOptions } from './options';

export interface ExtraGrpcServer {
  name: string;
  port: number;
  portOption: string;
}

export interface AppConfig {
  component: string;
  version: string;
  options: CommonOptions;
  /** Credentials for the main gRPC server (plaintext unless given). */
  credentials?: ServerCredentials;
  /** Further plaintext gRPC servers (pilot's xDS port). */
  extraGrpcServers?: ExtraGrpcServer[];
  /** See ComponentParts.beforeDrain. */
  beforeDrain?: () => void | Promise<void>;
  onStop?: () => Promise<void>;
}

export interface App {
  component: Component;
  logger: Logger;
  metrics: Registry;
  monitoring: MonitoringServer;
  /** The main gRPC server (--grpc-port). */
  grpc: GrpcServer;
  /** By name, the servers of `extraGrpcServers`. */
  extraGrpc: Map<string, GrpcServer>;
}

/** The parts every app has — logger, metrics, monitoring server, gRPC server(s) — built from its options. */
export function createApp(config: AppConfig): App {
  const { component: name, version, options } = config;
  const logger = createLogger(name, options.logLevel);
  const metrics = createMetricsRegistry(name, version);
  const monitoring = new MonitoringServer({
    component: name,
    host: options.host,
    port: options.monitoringPort,
    portOption: '--monitoring-port',
    registry: metrics,
    logger,
  });
  const grpc = new GrpcServer({
    name: 'grpc',
    host: options.host,
    port: options.grpcPort,
    portOption: '--grpc-port',
    credentials: config.credentials,
    logger,
  });
  const extraGrpc = new Map(
    (config.extraGrpcServers ?? []).map((s) => [
      s.name,
      new GrpcServer({ name: s.name, host: options.host, port: s.port, portOption: s.portOption, logger }),
    ]),
  );
  const component = new Component({
    name,
    logger,
    metrics,
    monitoring,
    grpcServers: [grpc, ...extraGrpc.values()],
    beforeDrain: config.beforeDrain,
    onStop: config.onStop,
  });
  return { component, logger, metrics, monitoring, grpc, extraGrpc };
}

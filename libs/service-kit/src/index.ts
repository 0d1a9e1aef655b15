export { createApp } from './app';
export type { App, AppConfig, ExtraGrpcServer } from './app';
export { Component, runUntilSignalled } from './component';
export type { ComponentParts } from './component';
export { PortInUseError, isAddressInUse } from './errors';
export { GrpcServer, serviceNameOf } from './grpc-server';
export type { GrpcServerConfig } from './grpc-server';
export { HealthService, ServingStatus } from './health';
export { LOG_LEVELS, createLogger } from './logging';
export type { LogLevel, Logger } from './logging';
export { createMetricsRegistry } from './metrics';
export { MonitoringServer } from './monitoring-server';
export type {
  DebugHandler,
  DebugResponse,
  MonitoringServerConfig,
  RouteHandler,
  RouteOptions,
  RouteRequest,
  RouteResponse,
} from './monitoring-server';
export {
  appCommand,
  envNameOf,
  option,
  parseList,
  parseLogLevel,
  parseOptions,
  parsePort,
  parsePositiveNumber,
} from './options';
export type { CommonDefaults, CommonOptions } from './options';

// Pilot's xDS generators and the model they read (bench/src/pilot.bench.ts loads the built module).
export { GrpcGenerator } from './grpc-generator';
export { EnvoyGenerator } from './envoy';
export type { MeshConfig } from './envoy';
export { PushContext, proxyOf, clusterName, hostPort, SERVER_LISTENER_PREFIX } from './model';
export type { Proxy } from './model';
export type { ConfigGenerator, GenerateRequest } from './types';
export { ConfigStore } from '../config-store';
export type { ConfigEntry, ConfigKind } from '../config-store';

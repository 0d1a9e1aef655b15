export { EnvoyGenerator } from './envoy-generator';
export {
  BLACKHOLE_CLUSTER,
  DEFAULT_MESH_CONFIG,
  INBOUND_PASSTHROUGH_CLUSTER,
  PASSTHROUGH_CLUSTER,
  VIRTUAL_INBOUND,
  VIRTUAL_OUTBOUND,
} from './common';
export type { MeshConfig, OutboundTrafficPolicyMode } from './common';

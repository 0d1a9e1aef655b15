export { RuleChecker, envoyRuleChecker } from './rule-checker';
export type { PackedMessage } from './rule-checker';
export type { FieldRules, Violation } from './rules';
export { findConfigConflicts } from './simulator/config-conflicts';
export { configFromDump, configFromResources } from './simulator/envoy-config';
export type { EnvoyConfig } from './simulator/envoy-config';
export { selectFilterChain } from './simulator/filter-chain';
export type { ConnectionInfo, FilterChainChoice } from './simulator/filter-chain';
export {
  headerMatches,
  routeMismatch,
  selectRoute,
  selectVirtualHost,
  stringMatches,
} from './simulator/http-routing';
export type { HttpRequest } from './simulator/http-routing';
export { simulate } from './simulator/simulator';
export type { SimulatedRequest, SimulationResult } from './simulator/simulator';

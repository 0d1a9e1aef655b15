export { ReferenceTracker } from './attributes/bag';
export type { AttributeBag, Condition } from './attributes/bag';
export {
  AttributeDecodeError,
  GlobalWordCountError,
  WordEncoder,
  WordTable,
  decodeAttributes,
  encodeAttributes,
} from './attributes/compressed';
export { GLOBAL_WORDS, GLOBAL_WORD_INDEX } from './attributes/global-words';
export { AttributeManifest, ManifestConflictError } from './attributes/manifest';
export { STANDARD_VOCABULARY } from './attributes/vocabulary';
export type { AttributeInfo } from './attributes/vocabulary';
export { EvalError, compileExpression, globMatch } from './expr/compile';
export type { CompiledExpression, EvalContext, TypeEnv } from './expr/compile';
export { ExpressionError, parseExpression } from './expr/parser';
export type { BinaryOp, Node } from './expr/parser';
export { CONFIG_API_VERSION, ConfigError, fqnOf, parseResource, resolveReference } from './config/model';
export type {
  ActionConfig,
  AttributeManifestConfig,
  ConfigResource,
  HandlerConfig,
  HeaderOperationConfig,
  HeaderOperationKind,
  InstanceConfig,
  MixerConfig,
  RuleConfig,
} from './config/model';
export { StaticConfigSource, YamlFolderSource, resourcesFromYaml } from './config/source';
export type { ConfigSnapshot, MixerConfigSource } from './config/source';
export { InstanceConfigError, TEMPLATE_FIELDS, compileInstance } from './templates/templates';
export type { CompiledInstance, InstanceBuilder } from './templates/templates';
export { MixerRuntime, loadAdapterPackage, quotaNameMatches } from './dispatch/runtime';
export { DEFAULT_REMOTE_TIMEOUT_MS, remoteAdapter, remoteFailureStatus } from './dispatch/remote-adapter';
export type { RemoteConnection, RemoteHandler } from './dispatch/remote-adapter';
export type {
  ApplyResult,
  CheckOutcome,
  HeaderOperation,
  RuntimeOptions,
  Snapshot,
} from './dispatch/runtime';
export { BackendUnavailableError, BadRequestError, toServiceError } from './api/errors';
export type { ErrorLogger } from './api/errors';
export { attributesOfAuthzCheck, attributesOfHttpLog, attributesOfTcpLog, rateLimitOf } from './api/envoy';
export { referencedAttributes } from './api/mixer-service';
export { addMixerServices } from './api/register';
export type { ServiceHost } from './api/register';

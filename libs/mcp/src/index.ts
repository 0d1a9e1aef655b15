export { Backoff } from './backoff';
export type { BackoffOptions } from './backoff';
export {
  MCP_RESOURCE_TYPE_URL,
  decodeMcpResource,
  encodeMcpResource,
  mcpName,
  mcpResourceOf,
} from './resource';
export type { McpResource, McpResourceInit } from './resource';
export { McpServer } from './server';
export type { McpServerOptions } from './server';
export { McpSink } from './sink';
export type { McpSinkEvents, McpSinkOptions, McpSinkStatus } from './sink';
export { STRUCT_TYPE_URL, jsonFromStruct, packJsonBody, structFromJson, unpackJsonBody } from './struct';
export type { JsonObject, JsonValue } from './struct';

import { mcpResource, packAny, typeUrlOf, unpackAny } from '@flotilla/proto';
import type { protobufAny } from '@flotilla/proto';
import { packJsonBody } from './struct';

/** The type URL of every resource on an MCP-over-xDS stream. */
export const MCP_RESOURCE_TYPE_URL = typeUrlOf(mcpResource.Resource);

/**
 * One config object of a collection, as galley serves it and a sink receives it: istio.mcp.v1alpha1.Resource's
 * metadata with its body (the spec) packed in an Any.
 */
export interface McpResource {
  /** "<namespace>/<name>", or "/<name>" for cluster-scoped objects; unique within the collection. */
  name: string;
  /** Opaque revision from the source of truth (a Kubernetes resourceVersion, a file hash). */
  version: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createTime?: Date;
  body: protobufAny.Any;
}

export interface McpResourceInit {
  namespace?: string;
  name: string;
  version?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  createTime?: Date;
  /** An already packed body (Istio's own form: the spec's proto message, e.g. istio.networking.v1alpha3.VirtualService). */
  body?: protobufAny.Any;
  /** Or the spec as JSON, sent as a google.protobuf.Struct. */
  spec?: Record<string, unknown>;
}

/** "<namespace>/<name>" (cluster-scoped: "/<name>"), the name an MCP resource carries. */
export function mcpName(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** Builds a resource from its parts; exactly one of `body` and `spec` is required. */
export function mcpResourceOf(init: McpResourceInit): McpResource {
  if ((init.body === undefined) === (init.spec === undefined)) {
    throw new Error(`MCP resource ${init.name}: give exactly one of body and spec`);
  }
  return {
    name: mcpName(init.namespace, init.name),
    version: init.version ?? '',
    labels: { ...(init.labels ?? {}) },
    annotations: { ...(init.annotations ?? {}) },
    createTime: init.createTime,
    body: init.body ?? packJsonBody(init.spec!),
  };
}

/** The wire form: an Any holding istio.mcp.v1alpha1.Resource. */
export function encodeMcpResource(resource: McpResource): protobufAny.Any {
  return packAny(mcpResource.Resource, {
    metadata: {
      name: resource.name,
      createTime: resource.createTime,
      version: resource.version,
      labels: resource.labels,
      annotations: resource.annotations,
    },
    body: resource.body,
  });
}

/** Decodes an Any from an MCP stream; throws if it is not an istio.mcp.v1alpha1.Resource with a name and body. */
export function decodeMcpResource(any: protobufAny.Any): McpResource {
  const decoded = unpackAny(any, mcpResource.Resource);
  const metadata = decoded.metadata;
  if (!metadata?.name) throw new Error('MCP resource without metadata.name');
  if (!decoded.body) throw new Error(`MCP resource ${metadata.name} has no body`);
  return {
    name: metadata.name,
    version: metadata.version,
    labels: metadata.labels,
    annotations: metadata.annotations,
    createTime: metadata.createTime,
    body: decoded.body,
  };
}

import type { ValueType } from '@flotilla/mixer-adapter-sdk';

export interface AttributeInfo {
  readonly valueType: ValueType;
  readonly description?: string;
}

const S = 'STRING';
const I = 'INT64';
const B = 'BOOL';
const T = 'TIMESTAMP';
const D = 'DURATION';
const M = 'STRING_MAP';
const IP = 'IP_ADDRESS';

/**
 * Istio 1.4's attribute vocabulary (istio.io "Attribute Vocabulary" for 1.4, and the istio-proxy and kubernetes
 * attribute manifests mixer shipped with): the attributes Envoy, mixer and the kubernetesenv adapter produce, with
 * their types. This is the manifest mixer starts from; attributemanifest config adds to it.
 */
const TABLE: Record<string, [ValueType, string]> = {
  'source.uid': [S, 'platform-specific unique identifier of the source workload instance'],
  'source.ip': [IP, 'source workload instance IP address'],
  'source.labels': [M, 'labels of the source instance'],
  'source.name': [S, 'source workload instance name'],
  'source.namespace': [S, 'source workload instance namespace'],
  'source.principal': [S, 'authority under which the source workload instance runs'],
  'source.owner': [S, 'reference to the workload controlling the source instance'],
  'source.workload.uid': [S, 'unique identifier of the source workload'],
  'source.workload.name': [S, 'source workload name'],
  'source.workload.namespace': [S, 'source workload namespace'],
  'source.user': [S, 'deprecated: use source.principal'],
  'source.service': [S, 'deprecated'],
  'source.services': [S, 'services the source instance belongs to'],
  'source.serviceAccount': [S, 'service account of the source instance'],
  'source.metadata': [M, 'metadata of the source instance'],
  'destination.uid': [S, 'platform-specific unique identifier of the server instance'],
  'destination.ip': [IP, 'server IP address'],
  'destination.port': [I, 'recipient port on the server IP address'],
  'destination.labels': [M, 'labels of the server instance'],
  'destination.metadata': [M, 'metadata of the server instance'],
  'destination.owner': [S, 'reference to the workload controlling the destination instance'],
  'destination.name': [S, 'destination workload instance name'],
  'destination.container.name': [S, 'container name on the destination workload instance'],
  'destination.container.image': [S, 'image of the destination workload instance container'],
  'destination.namespace': [S, 'destination workload instance namespace'],
  'destination.principal': [S, 'authority under which the destination workload runs'],
  'destination.service': [S, 'deprecated: use destination.service.host'],
  'destination.service.host': [S, 'destination host address'],
  'destination.service.uid': [S, 'unique identifier of the destination service'],
  'destination.service.name': [S, 'destination service name'],
  'destination.service.namespace': [S, 'destination service namespace'],
  'destination.serviceAccount': [S, 'service account of the destination instance'],
  'destination.workload.uid': [S, 'unique identifier of the destination workload'],
  'destination.workload.name': [S, 'destination workload name'],
  'destination.workload.namespace': [S, 'destination workload namespace'],
  'origin.ip': [IP, 'IP address of the proxy client'],
  'origin.uid': [S, 'unique identifier of the proxy client'],
  'origin.user': [S, 'user of the proxy client'],
  'request.headers': [M, 'HTTP request headers, keys lower-cased'],
  'request.id': [S, 'ID of the request'],
  'request.path': [S, 'HTTP URL path including query string'],
  'request.url_path': [S, 'HTTP URL path with the query string stripped'],
  'request.query_params': [M, 'query parameters of the HTTP URL'],
  'request.host': [S, 'HTTP/1.x host header or HTTP/2 authority header'],
  'request.method': [S, 'HTTP method'],
  'request.reason': [S, 'request reason used by auditing systems'],
  'request.referer': [S, 'HTTP referer header'],
  'request.scheme': [S, 'URI scheme of the request'],
  'request.size': [I, 'size of the request body in bytes'],
  'request.total_size': [I, 'total size of the HTTP request in bytes, headers included'],
  'request.time': [T, 'timestamp when the destination receives the request'],
  'request.useragent': [S, 'HTTP User-Agent header'],
  'response.headers': [M, 'HTTP response headers, keys lower-cased'],
  'response.size': [I, 'size of the response body in bytes'],
  'response.total_size': [I, 'total size of the HTTP response in bytes, headers included'],
  'response.time': [T, 'timestamp when the destination produced the response'],
  'response.duration': [D, 'time spent creating the response'],
  'response.code': [I, 'HTTP status code of the response'],
  'response.grpc_status': [S, 'gRPC status code of the response'],
  'response.grpc_message': [S, 'gRPC status message of the response'],
  'connection.id': [S, 'ID of a TCP connection'],
  'connection.event': [S, 'status of a TCP connection: open, continue or close'],
  'connection.received.bytes': [I, 'bytes received by the destination since the last Report'],
  'connection.received.bytes_total': [I, 'bytes received by the destination over the connection'],
  'connection.sent.bytes': [I, 'bytes sent by the destination since the last Report'],
  'connection.sent.bytes_total': [I, 'bytes sent by the destination over the connection'],
  'connection.duration': [D, 'time the connection has been open'],
  'connection.mtls': [B, 'whether the request arrived over mutual TLS'],
  'connection.requested_server_name': [S, 'requested server name (SNI) of the connection'],
  'context.protocol': [S, 'protocol of the request or connection: tcp, http, https, grpc'],
  'context.time': [T, 'timestamp of mixer operation'],
  'context.timestamp': [T, 'deprecated: use context.time'],
  'context.reporter.kind': [S, 'whether the report came from the inbound or the outbound side'],
  'context.reporter.uid': [S, 'platform-specific identifier of the reporter'],
  'context.reporter.local': [B, 'deprecated'],
  'context.proxy_error_code': [
    S,
    "additional details about the response or connection from the proxy (Envoy's %RESPONSE_FLAGS%)",
  ],
  'api.service': [S, 'public service name (API management)'],
  'api.version': [S, 'API version'],
  'api.operation': [S, 'unique identifier of the operation'],
  'api.protocol': [S, 'protocol of the API call: http, https or grpc'],
  'request.auth.principal': [S, 'authenticated principal of the request'],
  'request.auth.audiences': [S, 'intended audience(s) of the authentication information'],
  'request.auth.presenter': [S, 'authorized presenter of the credential'],
  'request.auth.claims': [M, 'claims from the origin JWT'],
  'request.auth.raw_claims': [S, 'raw claims from the origin JWT'],
  'request.api_key': [S, 'API key used for the request'],
  'check.error_code': [I, 'error code of a failed Check'],
  'check.error_message': [S, 'error message of a failed Check'],
  'check.cache_hit': [B, 'whether the Check was answered from the client cache'],
  'quota.cache_hit': [B, 'whether the quota was answered from the client cache'],
  // Flotilla's own: what an Envoy rate-limit call (envoy.service.ratelimit.v3) is turned into.
  'ratelimit.domain': [S, 'domain of an Envoy rate-limit request (Flotilla)'],
  'ratelimit.descriptor': [M, 'entries of one Envoy rate-limit descriptor, key → value (Flotilla)'],
  'rbac.permissive.response_code': [S, 'response code of a permissive-mode RBAC evaluation'],
  'rbac.permissive.effective_policy_id': [S, 'effective policy of a permissive-mode RBAC evaluation'],
};

export const STANDARD_VOCABULARY: ReadonlyMap<string, AttributeInfo> = new Map(
  Object.entries(TABLE).map(([name, [valueType, description]]) => [name, { valueType, description }]),
);

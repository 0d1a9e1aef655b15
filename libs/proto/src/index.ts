// Generated protobuf modules are exported as namespaces named after their proto package, so that
// `discovery.DiscoveryRequest` reads like the proto it came from. Modules not listed here are still generated
// (they are imported by these) and register their message types for Any unpacking.
export { TYPE_URL_PREFIX, UnpackError, lookupType, packAny, typeUrlOf, unpackAny } from './any';
export type { PackableType } from './any';
export { DESCRIPTOR_SET_PATH, readDescriptorSet } from './descriptors';
export { HTTP_PROTOCOL_OPTIONS, http2ProtocolOptions } from './upstream-http';
export type { CommonHttpOptions } from './upstream-http';
export { messageTypeRegistry } from './gen/typeRegistry';
export type { MessageType, UnknownMessage } from './gen/typeRegistry';

// Well-known types
export * as protobufAny from './gen/google/protobuf/any';
export * as protobufStruct from './gen/google/protobuf/struct';
export * as protobufDuration from './gen/google/protobuf/duration';
export * as protobufWrappers from './gen/google/protobuf/wrappers';
export * as rpcStatus from './gen/google/rpc/status';

// xDS transport
export * as discovery from './gen/envoy/service/discovery/v3/discovery';
export * as ads from './gen/envoy/service/discovery/v3/ads';

// xDS resources
export * as core from './gen/envoy/config/core/v3/base';
export * as address from './gen/envoy/config/core/v3/address';
export * as configSource from './gen/envoy/config/core/v3/config_source';
export * as listener from './gen/envoy/config/listener/v3/listener';
export * as listenerComponents from './gen/envoy/config/listener/v3/listener_components';
export * as route from './gen/envoy/config/route/v3/route';
export * as routeComponents from './gen/envoy/config/route/v3/route_components';
export * as cluster from './gen/envoy/config/cluster/v3/cluster';
export * as endpoint from './gen/envoy/config/endpoint/v3/endpoint';
export * as endpointComponents from './gen/envoy/config/endpoint/v3/endpoint_components';
export * as tls from './gen/envoy/extensions/transport_sockets/tls/v3/tls';
export * as tlsCommon from './gen/envoy/extensions/transport_sockets/tls/v3/common';
export * as tlsSecret from './gen/envoy/extensions/transport_sockets/tls/v3/secret';
export * as sds from './gen/envoy/service/secret/v3/sds';

// Filters
export * as httpConnectionManager from './gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager';
export * as tcpProxy from './gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy';
export * as originalDst from './gen/envoy/extensions/filters/listener/original_dst/v3/original_dst';
export * as tlsInspector from './gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector';
export * as router from './gen/envoy/extensions/filters/http/router/v3/router';
export * as fault from './gen/envoy/extensions/filters/http/fault/v3/fault';
export * as corsFilter from './gen/envoy/extensions/filters/http/cors/v3/cors';
export * as upstreamHttp from './gen/envoy/extensions/upstreams/http/v3/http_protocol_options';
export * as previousHosts from './gen/envoy/extensions/retry/host/previous_hosts/v3/previous_hosts';
export * as rbacFilter from './gen/envoy/extensions/filters/http/rbac/v3/rbac';
export * as rbac from './gen/envoy/config/rbac/v3/rbac';
export * as jwtAuthn from './gen/envoy/extensions/filters/http/jwt_authn/v3/config';
export * as extAuthzFilter from './gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz';
export * as rateLimitFilter from './gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit';

// Services the data plane calls
export * as externalAuth from './gen/envoy/service/auth/v3/external_auth';
export * as rateLimitService from './gen/envoy/service/ratelimit/v3/rls';
export * as accessLogService from './gen/envoy/service/accesslog/v3/als';

// Admin
export * as configDump from './gen/envoy/admin/v3/config_dump';
export * as configDumpShared from './gen/envoy/admin/v3/config_dump_shared';
export * as bootstrap from './gen/envoy/config/bootstrap/v3/bootstrap';

// Flotilla's own protos (protos/)
export * as health from './gen/grpc/health/v1/health';
export * as mcpMetadata from './gen/istio/mcp/v1alpha1/metadata';
export * as mcpResource from './gen/istio/mcp/v1alpha1/resource';
export * as mixerAttributes from './gen/istio/mixer/v1/attributes';
export * as mixerCheck from './gen/istio/mixer/v1/check';
export * as mixerReport from './gen/istio/mixer/v1/report';
export * as mixerService from './gen/istio/mixer/v1/service';
export * as ca from './gen/istio/security/v1alpha1/ca';

// Out-of-process mixer adapters (protos/mixer/template, protos/istio/mixer/adapter, protos/istio/policy)
export * as adapterCheck from './gen/istio/mixer/adapter/model/v1beta1/check';
export * as adapterQuota from './gen/istio/mixer/adapter/model/v1beta1/quota';
export * as adapterReport from './gen/istio/mixer/adapter/model/v1beta1/report';
export * as adapterValue from './gen/istio/mixer/adapter/model/v1beta1/type';
export * as policyValue from './gen/istio/policy/v1beta1/type';
export * as checknothingTemplate from './gen/mixer/template/checknothing/template_handler_service';
export * as listentryTemplate from './gen/mixer/template/listentry/template_handler_service';
export * as authorizationTemplate from './gen/mixer/template/authorization/template_handler_service';
export * as quotaTemplate from './gen/mixer/template/quota/template_handler_service';
export * as metricTemplate from './gen/mixer/template/metric/template_handler_service';
export * as logentryTemplate from './gen/mixer/template/logentry/template_handler_service';
export * as reportnothingTemplate from './gen/mixer/template/reportnothing/template_handler_service';

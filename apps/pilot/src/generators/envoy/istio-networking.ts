// The parts of Istio's networking API (VirtualService, DestinationRule, Gateway) only Envoy can express, on top of
// what proxyless gRPC reads (../istio-types). JSON as galley serves it: durations are strings like "2s".
import type {
  DestinationRuleSpec,
  HTTPMatchRequest,
  HTTPRoute,
  HTTPRouteDestination,
  LoadBalancerSettings,
  OutlierDetection,
  StringMatch,
  Subset,
  VirtualServiceSpec,
} from '../istio-types';

export interface EnvoyHTTPMatchRequest extends HTTPMatchRequest {
  method?: StringMatch;
  authority?: StringMatch;
  scheme?: StringMatch;
  /** Gateways this match applies to ("mesh" or "namespace/name"); empty means the VirtualService's. */
  gateways?: string[];
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface EnvoyHTTPRouteDestination extends HTTPRouteDestination {
  headers?: Headers;
}

export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
  scheme?: string;
  redirectCode?: number;
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: { match: string; rewrite: string };
}

export interface HTTPDirectResponse {
  status: number;
  body?: { string?: string; bytes?: string };
}

export interface CorsPolicy {
  allowOrigins?: StringMatch[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: string;
  allowCredentials?: boolean;
}

export interface EnvoyHTTPRoute extends Omit<HTTPRoute, 'match' | 'route'> {
  match?: EnvoyHTTPMatchRequest[];
  route?: EnvoyHTTPRouteDestination[];
  redirect?: HTTPRedirect;
  rewrite?: HTTPRewrite;
  directResponse?: HTTPDirectResponse;
  mirror?: { host: string; subset?: string; port?: { number?: number } };
  mirrorPercentage?: { value?: number };
  mirrorPercent?: number;
  /** Several mirror destinations, each with its own percentage (Istio 1.18+). */
  mirrors?: {
    destination: { host: string; subset?: string; port?: { number?: number } };
    percentage?: { value?: number };
  }[];
  headers?: Headers;
  corsPolicy?: CorsPolicy;
  /** Istio's delegate VirtualService: this route's traffic is routed by the named VirtualService's routes. */
  delegate?: { name: string; namespace?: string };
}

export interface EnvoyVirtualServiceSpec extends Omit<VirtualServiceSpec, 'http'> {
  http?: EnvoyHTTPRoute[];
}

export interface LocalityLbSetting {
  enabled?: boolean;
  distribute?: { from: string; to: Record<string, number> }[];
  failover?: { from: string; to: string }[];
}

export interface EnvoyLoadBalancerSettings extends LoadBalancerSettings {
  consistentHash?: LoadBalancerSettings['consistentHash'] & {
    httpCookie?: { name: string; path?: string; ttl?: string };
    maglev?: { tableSize?: number };
  };
  localityLbSetting?: LocalityLbSetting;
}

export interface ClientTlsSettings {
  mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean;
}

export interface EnvoyConnectionPool {
  tcp?: {
    maxConnections?: number;
    connectTimeout?: string;
    tcpKeepalive?: { probes?: number; time?: string; interval?: string };
    maxConnectionDuration?: string;
  };
  http?: {
    http1MaxPendingRequests?: number;
    http2MaxRequests?: number;
    maxRequestsPerConnection?: number;
    maxRetries?: number;
    idleTimeout?: string;
    h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
  };
}

export interface EnvoyTrafficPolicyCore {
  loadBalancer?: EnvoyLoadBalancerSettings;
  connectionPool?: EnvoyConnectionPool;
  outlierDetection?: OutlierDetection & { splitExternalLocalOriginErrors?: boolean };
  tls?: ClientTlsSettings;
}

export interface EnvoyTrafficPolicy extends EnvoyTrafficPolicyCore {
  portLevelSettings?: (EnvoyTrafficPolicyCore & { port?: { number?: number } })[];
}

export interface EnvoySubset extends Omit<Subset, 'trafficPolicy'> {
  trafficPolicy?: EnvoyTrafficPolicy;
}

export interface EnvoyDestinationRuleSpec extends Omit<DestinationRuleSpec, 'trafficPolicy' | 'subsets'> {
  trafficPolicy?: EnvoyTrafficPolicy;
  subsets?: EnvoySubset[];
}

export interface ServerTlsSettings {
  mode?: 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL';
  httpsRedirect?: boolean;
  credentialName?: string;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  subjectAltNames?: string[];
  minProtocolVersion?: string;
  maxProtocolVersion?: string;
}

export interface GatewayServer {
  port: { number: number; protocol: string; name?: string; targetPort?: number };
  hosts: string[];
  bind?: string;
  tls?: ServerTlsSettings;
  name?: string;
}

export interface GatewaySpec {
  selector?: Record<string, string>;
  servers?: GatewayServer[];
}

export interface TLSRoute {
  match?: { sniHosts: string[]; port?: number; gateways?: string[] }[];
  route?: HTTPRouteDestination[];
}

export interface TCPRoute {
  match?: { port?: number; gateways?: string[] }[];
  route?: HTTPRouteDestination[];
}

/** The VirtualService as gateways read it: HTTP, TLS (by SNI) and TCP routes. */
export interface GatewayVirtualServiceSpec extends EnvoyVirtualServiceSpec {
  tls?: TLSRoute[];
  tcp?: TCPRoute[];
}

// The parts of Istio's networking and security specs the generators read (JSON as galley serves it; durations
// are strings like "2s" or "500ms").

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: { number?: number };
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  headers?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
}

export interface HTTPFaultInjection {
  delay?: { fixedDelay?: string; percentage?: { value?: number }; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; percentage?: { value?: number } };
}

export interface HTTPRetry {
  attempts?: number;
  perTryTimeout?: string;
  retryOn?: string;
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  timeout?: string;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  exportTo?: string[];
}

export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  consistentHash?: {
    httpHeaderName?: string;
    httpCookie?: { name: string };
    useSourceIp?: boolean;
    httpQueryParameterName?: string;
    ringHash?: { minimumRingSize?: number };
    minimumRingSize?: number;
  };
}

export interface OutlierDetection {
  consecutiveErrors?: number;
  consecutive5xxErrors?: number;
  consecutiveGatewayErrors?: number;
  interval?: string;
  baseEjectionTime?: string;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

export interface ConnectionPoolSettings {
  tcp?: { maxConnections?: number; connectTimeout?: string };
  http?: { http2MaxRequests?: number; http1MaxPendingRequests?: number; maxRetries?: number };
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  portLevelSettings?: (Omit<TrafficPolicy, 'portLevelSettings'> & { port?: { number?: number } })[];
}

export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
}

export interface AuthorizationRule {
  from?: {
    source?: {
      principals?: string[];
      notPrincipals?: string[];
      namespaces?: string[];
      notNamespaces?: string[];
      ipBlocks?: string[];
      notIpBlocks?: string[];
      remoteIpBlocks?: string[];
      notRemoteIpBlocks?: string[];
      requestPrincipals?: string[];
      notRequestPrincipals?: string[];
    };
  }[];
  to?: {
    operation?: {
      paths?: string[];
      notPaths?: string[];
      methods?: string[];
      notMethods?: string[];
      ports?: string[];
      notPorts?: string[];
      hosts?: string[];
      notHosts?: string[];
    };
  }[];
  when?: { key: string; values?: string[]; notValues?: string[] }[];
}

export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  rules?: AuthorizationRule[];
}

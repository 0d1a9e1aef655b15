// A generated corpus of Istio configuration for galley's benchmarks: a realistic mix of kinds, each resource
// different, all valid.

const KINDS = [
  'VirtualService',
  'DestinationRule',
  'ServiceEntry',
  'Gateway',
  'AuthorizationPolicy',
  'Sidecar',
] as const;

function resourceYaml(i: number): string {
  const ns = `team-${i % 40}`;
  const host = `svc-${i}.${ns}.svc.cluster.local`;
  switch (KINDS[i % KINDS.length]) {
    case 'VirtualService':
      return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs-${i}
  namespace: ${ns}
spec:
  hosts: [${host}]
  http:
  - match:
    - uri: { prefix: /api/v${i % 3} }
      headers:
        end-user: { exact: user-${i} }
    route:
    - destination: { host: ${host}, subset: v2 }
    timeout: 3s
    retries: { attempts: 3, perTryTimeout: 1s, retryOn: "5xx,connect-failure" }
  - route:
    - destination: { host: ${host}, subset: v1 }
      weight: 90
    - destination: { host: ${host}, subset: v2 }
      weight: 10
`;
    case 'DestinationRule':
      return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: dr-${i}
  namespace: ${ns}
spec:
  host: ${host}
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
    connectionPool:
      tcp: { maxConnections: ${100 + (i % 50)} }
      http: { http1MaxPendingRequests: 10, maxRequestsPerConnection: 5 }
    outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }
  subsets:
  - name: v1
    labels: { version: v1 }
  - name: v2
    labels: { version: v2 }
`;
    case 'ServiceEntry':
      return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: se-${i}
  namespace: ${ns}
spec:
  hosts: [api-${i}.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - { number: 443, name: https-${i % 7}, protocol: HTTPS }
`;
    case 'Gateway':
      return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw-${i}
  namespace: ${ns}
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http-${i}, protocol: HTTP }
    hosts: ["${ns}/www-${i}.example.com"]
`;
    case 'AuthorizationPolicy':
      return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ap-${i}
  namespace: ${ns}
spec:
  selector:
    matchLabels: { app: svc-${i} }
  action: ALLOW
  rules:
  - from:
    - source: { principals: ["cluster.local/ns/${ns}/sa/client-${i}"] }
    to:
    - operation: { methods: [GET, POST], paths: ["/api/*"] }
    when:
    - { key: "request.headers[x-tenant]", values: ["t-${i}"] }
`;
    case 'Sidecar':
      return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: sc-${i}
  namespace: ${ns}
spec:
  workloadSelector:
    labels: { app: svc-${i} }
  egress:
  - hosts: ["./*", "istio-system/*"]
`;
  }
}

/** `count` resources as YAML documents, split into `files` files of about equal size. */
export function corpusFiles(count: number, files: number): string[] {
  const out: string[][] = Array.from({ length: files }, () => []);
  for (let i = 0; i < count; i++) out[i % files].push(resourceYaml(i));
  return out.map((docs) => docs.join('---\n'));
}

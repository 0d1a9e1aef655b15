// networking.istio.io kinds: VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar, WorkloadEntry,
// WorkloadGroup, EnvoyFilter, ProxyConfig.
import {
  any,
  arr,
  atMostOne,
  bool,
  boolValue,
  doubleValue,
  enumOf,
  i32,
  int,
  map,
  obj,
  str,
  stringMap,
  strings,
  u32,
  u32Value,
} from '../build';
import type { Obj, Rule, Schema } from '../types';
import {
  alphaWorkloadSelector,
  anyDuration,
  clientTLS,
  connectionPool,
  destination,
  duration,
  headers,
  percent,
  port,
  portSelector,
  serverTLS,
  stringMatch,
  targetRefs,
  workloadSelector,
} from './shared';

// ---- VirtualService

const httpMatch = (): Schema =>
  obj({
    name: str(),
    uri: stringMatch(),
    scheme: stringMatch(),
    method: stringMatch(),
    authority: stringMatch(),
    headers: map(stringMatch()),
    port: u32(),
    sourceLabels: stringMap(),
    gateways: strings(),
    queryParams: map(stringMatch()),
    ignoreUriCase: bool(),
    withoutHeaders: map(stringMatch()),
    sourceNamespace: str(),
    statPrefix: str(),
  });

const httpRoute = (): Schema =>
  obj({
    name: str(),
    match: arr(httpMatch()),
    route: arr(
      obj({ destination: destination(), weight: i32(), headers: headers() }, { required: ['destination'] }),
    ),
    redirect: obj(
      {
        uri: str(),
        authority: str(),
        port: u32(),
        derivePort: enumOf(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']),
        scheme: str(),
        redirectCode: u32(),
        prefixRewrite: str(),
      },
      { oneOf: [['port', 'derivePort']] },
    ),
    directResponse: obj(
      {
        status: u32(),
        body: obj({ string: str(), bytes: str({ format: 'byte' }) }, { oneOf: [['string', 'bytes']] }),
      },
      { required: ['status'] },
    ),
    delegate: obj({ name: str(), namespace: str() }),
    rewrite: obj({ uri: str(), authority: str(), uriRegexRewrite: obj({ match: str(), rewrite: str() }) }),
    timeout: duration(),
    retries: obj({
      attempts: i32(),
      perTryTimeout: duration(),
      retryOn: str(),
      retryRemoteLocalities: boolValue(),
      retryIgnorePreviousHosts: boolValue(),
      backoff: duration(),
    }),
    fault: obj({
      delay: obj(
        { fixedDelay: duration(), exponentialDelay: duration(), percentage: percent(), percent: i32() },
        { oneOf: [['fixedDelay', 'exponentialDelay']] },
      ),
      abort: obj(
        { httpStatus: i32(), grpcStatus: str(), http2Error: str(), percentage: percent() },
        { oneOf: [['httpStatus', 'grpcStatus', 'http2Error']] },
      ),
    }),
    mirror: destination(),
    mirrorPercent: u32Value(),
    mirror_percent: u32Value(),
    mirrorPercentage: percent(),
    mirrors: arr(obj({ destination: destination(), percentage: percent() }, { required: ['destination'] })),
    corsPolicy: obj({
      allowOrigin: strings(),
      allowOrigins: arr(stringMatch()),
      allowMethods: strings(),
      allowHeaders: strings(),
      exposeHeaders: strings(),
      maxAge: duration(),
      allowCredentials: boolValue(),
      unmatchedPreflights: enumOf(['UNSPECIFIED', 'FORWARD', 'IGNORE']),
    }),
    headers: headers(),
  });

const l4Match = (sni: boolean): Schema =>
  obj(
    {
      destinationSubnets: strings(),
      port: u32(),
      sourceLabels: stringMap(),
      gateways: strings(),
      sourceNamespace: str(),
      ...(sni ? { sniHosts: strings() } : { sourceSubnet: str() }),
    },
    sni ? { required: ['sniHosts'] } : {},
  );

const routeDestination = (): Schema =>
  obj({ destination: destination(), weight: i32() }, { required: ['destination'] });

export const virtualServiceSpec = (): Schema =>
  obj({
    hosts: strings(),
    gateways: strings(),
    http: arr(httpRoute()),
    tls: arr(obj({ match: arr(l4Match(true)), route: arr(routeDestination()) }, { required: ['match'] })),
    tcp: arr(obj({ match: arr(l4Match(false)), route: arr(routeDestination()) })),
    exportTo: strings(),
  });

// ---- DestinationRule

const localityLb = (): Schema =>
  obj({
    distribute: arr(obj({ from: str(), to: map(u32()) })),
    failover: arr(obj({ from: str(), to: str() })),
    failoverPriority: strings(),
    enabled: boolValue(),
  });

const loadBalancer = (): Schema =>
  obj(
    {
      simple: enumOf(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']),
      consistentHash: obj(
        {
          httpHeaderName: str(),
          httpCookie: obj(
            {
              name: str(),
              path: str(),
              ttl: anyDuration(),
              attributes: arr(obj({ name: str(), value: str() }, { required: ['name'] })),
            },
            { required: ['name'] },
          ),
          useSourceIp: bool(),
          httpQueryParameterName: str(),
          ringHash: obj({ minimumRingSize: int({ minimum: 0 }) }),
          maglev: obj({ tableSize: int({ minimum: 0 }) }),
          minimumRingSize: int({ minimum: 0 }),
        },
        {
          oneOf: [
            ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
            ['ringHash', 'maglev'],
          ],
        },
      ),
      localityLbSetting: localityLb(),
      zoneAwareLbSetting: obj({
        failover: arr(obj({ from: str(), to: str() })),
        failoverPriority: strings(),
        enabled: boolValue(),
        minClusterSize: u32Value(),
      }),
      warmupDurationSecs: duration(),
      warmup: obj(
        {
          duration: duration(),
          minimumPercent: doubleValue({ minimum: 0, maximum: 100 }),
          aggression: doubleValue({ minimum: 0 }),
        },
        { required: ['duration'] },
      ),
    },
    { oneOf: [['simple', 'consistentHash']] },
  );

const outlierDetection = (): Schema =>
  obj({
    consecutiveErrors: i32(),
    splitExternalLocalOriginErrors: bool(),
    consecutiveLocalOriginFailures: u32Value(),
    consecutiveGatewayErrors: u32Value(),
    consecutive5xxErrors: u32Value(),
    interval: duration(),
    baseEjectionTime: duration(),
    maxEjectionPercent: i32(),
    minHealthPercent: i32(),
    outlierDetectionHttpErrorCodes: arr(int({ minimum: 100, maximum: 599 })),
  });

const trafficPolicyFields = (): Record<string, Schema> => ({
  loadBalancer: loadBalancer(),
  connectionPool: connectionPool(),
  outlierDetection: outlierDetection(),
  tls: clientTLS(),
});

const trafficPolicy = (): Schema =>
  obj({
    ...trafficPolicyFields(),
    portLevelSettings: arr(obj({ port: portSelector(), ...trafficPolicyFields() }), { maxItems: 4096 }),
    tunnel: obj(
      { protocol: str(), targetHost: str(), targetPort: u32() },
      { required: ['targetHost', 'targetPort'] },
    ),
    proxyProtocol: obj({ version: enumOf(['V1', 'V2']) }),
    retryBudget: obj({
      percent: doubleValue({ minimum: 0, maximum: 100 }),
      minRetryConcurrency: u32(),
      budgetInterval: anyDuration(),
    }),
  });

export const destinationRuleSpec = (): Schema =>
  obj(
    {
      host: str(),
      trafficPolicy: trafficPolicy(),
      subsets: arr(
        obj({ name: str(), labels: stringMap(), trafficPolicy: trafficPolicy() }, { required: ['name'] }),
      ),
      exportTo: strings(),
      workloadSelector: workloadSelector(),
    },
    { required: ['host'] },
  );

// ---- Gateway

const gatewayPort = (): Schema =>
  obj(
    { number: u32(), protocol: str(), name: str(), targetPort: u32() },
    { required: ['number', 'protocol', 'name'] },
  );

export const gatewaySpec = (): Schema =>
  obj({
    servers: arr(
      obj(
        {
          port: gatewayPort(),
          bind: str(),
          hosts: strings(),
          tls: serverTLS(),
          defaultEndpoint: str(),
          name: str(),
        },
        { required: ['port', 'hosts'] },
      ),
    ),
    selector: stringMap(),
  });

// ---- ServiceEntry / WorkloadEntry / WorkloadGroup

const udsAddressRules: Rule<string>[] = [
  {
    message: 'UDS must be an absolute path or abstract socket',
    cel: 'self.startsWith("unix://") ? (self.substring(7, 8) == "/" || self.substring(7, 8) == "@") : true',
    test: (v) => !v.startsWith('unix://') || v[7] === '/' || v[7] === '@',
  },
  {
    message: 'UDS may not be a dir',
    cel: 'self.startsWith("unix://") ? !self.endsWith("/") : true',
    test: (v) => !v.startsWith('unix://') || !v.endsWith('/'),
  },
];

const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const portNamesRule: Rule<Obj> = {
  message: 'port name must be valid',
  cel: 'self.all(key, size(key) < 63 && key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))',
  test: (v) => Object.keys(v).every((k) => k.length < 63 && PORT_NAME.test(k)),
};

const udsNoPorts: Rule<Obj> = {
  message: 'UDS may not include ports',
  cel: '(has(self.address) ? self.address : "").startsWith("unix://") ? !has(self.ports) : true',
  test: (v) => !(typeof v.address === 'string' && v.address.startsWith('unix://') && v.ports !== undefined),
};

const addressRequired: Rule<Obj> = {
  message: 'Address is required',
  cel: 'has(self.address) || has(self.network)',
  test: (v) => v.address !== undefined || v.network !== undefined,
};

const workloadEntryFields = (): Record<string, Schema> => ({
  address: str({ maxLength: 256, rules: udsAddressRules }),
  ports: map(
    u32({
      rules: [
        {
          message: 'port must be between 1-65535',
          cel: '0 < self && self <= 65535',
          test: (p) => p > 0 && p <= 65535,
        },
      ],
    }),
    {
      maxProperties: 128,
      rules: [portNamesRule],
    },
  ),
  labels: stringMap({ maxProperties: 256 }),
  network: str({ maxLength: 2048 }),
  locality: str({ maxLength: 2048 }),
  weight: u32(),
  serviceAccount: str({ maxLength: 253 }),
});

export const workloadEntrySpec = (): Schema =>
  obj(workloadEntryFields(), { rules: [addressRequired, udsNoPorts] });

const resolutionOf = (v: Obj, dflt: string): string =>
  typeof v.resolution === 'string' ? v.resolution : dflt;

export const serviceEntrySpec = (): Schema =>
  obj(
    {
      hosts: arr(
        str({
          rules: [{ message: 'hostname cannot be wildcard', cel: 'self != "*"', test: (h) => h !== '*' }],
        }),
        { minItems: 1, maxItems: 256 },
      ),
      addresses: arr(str({ maxLength: 64 }), { maxItems: 256 }),
      ports: arr(
        obj(
          {
            number: port(),
            protocol: str({ maxLength: 256 }),
            name: str({ maxLength: 256 }),
            targetPort: port(),
          },
          { required: ['number', 'name'] },
        ),
        {
          maxItems: 256,
          listMapKeys: ['name'],
          rules: [
            {
              message: 'port number cannot be duplicated',
              cel: 'self.all(l1, self.exists_one(l2, l1.number == l2.number))',
              test: (ports) => {
                const seen = new Set<unknown>();
                for (const p of ports) {
                  const n = (p as Obj | null)?.number;
                  if (seen.has(n)) return false;
                  seen.add(n);
                }
                return true;
              },
            },
          ],
        },
      ),
      location: enumOf(['MESH_EXTERNAL', 'MESH_INTERNAL']),
      resolution: enumOf(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']),
      endpoints: arr(obj(workloadEntryFields(), { rules: [addressRequired, udsNoPorts] }), {
        maxItems: 4096,
      }),
      workloadSelector: alphaWorkloadSelector(),
      exportTo: strings(),
      subjectAltNames: strings(),
    },
    {
      required: ['hosts'],
      rules: [
        atMostOne(['workloadSelector', 'endpoints'], 'only one of WorkloadSelector or Endpoints can be set'),
        {
          message: 'CIDR addresses are allowed only for NONE/STATIC resolution types',
          cel: '!((has(self.addresses) ? self.addresses : []).exists(k, k.contains("/")) && !((has(self.resolution) ? self.resolution : "NONE") in ["STATIC", "NONE"]))',
          test: (v) =>
            !(
              Array.isArray(v.addresses) &&
              v.addresses.some((a) => typeof a === 'string' && a.includes('/')) &&
              !['STATIC', 'NONE'].includes(resolutionOf(v, 'NONE'))
            ),
        },
        {
          message: 'NONE mode cannot set endpoints',
          cel: '((has(self.resolution) ? self.resolution : "NONE") == "NONE") ? !has(self.endpoints) : true',
          test: (v) => resolutionOf(v, 'NONE') !== 'NONE' || v.endpoints === undefined,
        },
        {
          message: 'DNS_ROUND_ROBIN mode cannot have multiple endpoints',
          cel: '((has(self.resolution) ? self.resolution : "") == "DNS_ROUND_ROBIN") ? ((has(self.endpoints) ? self.endpoints : []).size() <= 1) : true',
          test: (v) =>
            resolutionOf(v, '') !== 'DNS_ROUND_ROBIN' ||
            !Array.isArray(v.endpoints) ||
            v.endpoints.length <= 1,
        },
      ],
    },
  );

const probePort = (): Schema => port();

export const workloadGroupSpec = (): Schema =>
  obj(
    {
      metadata: obj({
        labels: stringMap({ maxProperties: 256 }),
        annotations: stringMap({ maxProperties: 256 }),
      }),
      template: obj(workloadEntryFields(), { rules: [udsNoPorts] }),
      probe: obj(
        {
          initialDelaySeconds: i32({ minimum: 0 }),
          timeoutSeconds: i32({ minimum: 0 }),
          periodSeconds: i32({ minimum: 0 }),
          successThreshold: i32({ minimum: 0 }),
          failureThreshold: i32({ minimum: 0 }),
          httpGet: obj(
            {
              path: str(),
              port: probePort(),
              host: str(),
              scheme: str({
                rules: [
                  {
                    message: 'scheme must be one of [HTTP, HTTPS]',
                    cel: 'self in ["", "HTTP", "HTTPS"]',
                    test: (s) => s === '' || s === 'HTTP' || s === 'HTTPS',
                  },
                ],
              }),
              httpHeaders: arr(obj({ name: str({ pattern: '^[-_A-Za-z0-9]+$' }), value: str() })),
            },
            { required: ['port'] },
          ),
          tcpSocket: obj({ host: str(), port: probePort() }, { required: ['port'] }),
          exec: obj({ command: arr(str({ minLength: 1 })) }, { required: ['command'] }),
          grpc: obj({ port: probePort(), service: str() }),
        },
        { oneOf: [['httpGet', 'tcpSocket', 'exec', 'grpc']] },
      ),
    },
    { required: ['template'] },
  );

// ---- Sidecar

const sidecarPort = (): Schema => obj({ number: u32(), protocol: str(), name: str(), targetPort: u32() });

export const sidecarSpec = (): Schema =>
  obj({
    workloadSelector: alphaWorkloadSelector(),
    ingress: arr(
      obj(
        {
          port: sidecarPort(),
          bind: str(),
          captureMode: enumOf(['DEFAULT', 'IPTABLES', 'NONE']),
          defaultEndpoint: str(),
          tls: serverTLS(),
          connectionPool: connectionPool(),
        },
        { required: ['port'] },
      ),
    ),
    egress: arr(
      obj(
        {
          port: sidecarPort(),
          bind: str(),
          captureMode: enumOf(['DEFAULT', 'IPTABLES', 'NONE']),
          hosts: strings(),
        },
        { required: ['hosts'] },
      ),
    ),
    inboundConnectionPool: connectionPool(),
    outboundTrafficPolicy: obj({
      mode: enumOf(['REGISTRY_ONLY', 'ALLOW_ANY']),
      egressProxy: obj({ host: str(), subset: str(), port: portSelector() }, { required: ['host'] }),
    }),
  });

// ---- EnvoyFilter

const filterMatch = (): Schema => obj({ name: str(), subFilter: obj({ name: str() }) });

export const envoyFilterSpec = (): Schema =>
  obj(
    {
      workloadSelector: alphaWorkloadSelector(),
      targetRefs: targetRefs(),
      priority: i32(),
      configPatches: arr(
        obj({
          applyTo: enumOf([
            'INVALID',
            'LISTENER',
            'FILTER_CHAIN',
            'NETWORK_FILTER',
            'HTTP_FILTER',
            'ROUTE_CONFIGURATION',
            'VIRTUAL_HOST',
            'HTTP_ROUTE',
            'CLUSTER',
            'EXTENSION_CONFIG',
            'BOOTSTRAP',
            'LISTENER_FILTER',
          ]),
          match: obj(
            {
              context: enumOf(['ANY', 'SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY', 'WAYPOINT']),
              proxy: obj({ proxyVersion: str(), metadata: stringMap() }),
              listener: obj({
                portNumber: u32(),
                portName: str(),
                filterChain: obj({
                  name: str(),
                  sni: str(),
                  transportProtocol: str(),
                  applicationProtocols: str(),
                  filter: filterMatch(),
                  destinationPort: u32(),
                }),
                listenerFilter: str(),
                name: str(),
              }),
              routeConfiguration: obj({
                portNumber: u32(),
                portName: str(),
                gateway: str(),
                vhost: obj({
                  name: str(),
                  domainName: str(),
                  route: obj({
                    name: str(),
                    action: enumOf(['ANY', 'ROUTE', 'REDIRECT', 'DIRECT_RESPONSE']),
                  }),
                }),
                name: str(),
              }),
              cluster: obj({ portNumber: u32(), service: str(), subset: str(), name: str() }),
              waypoint: obj({ filter: filterMatch(), route: obj({ name: str() }), portNumber: port() }),
            },
            {
              oneOf: [['listener', 'routeConfiguration', 'cluster', 'waypoint']],
              rules: [
                {
                  message: 'only support waypointMatch when context is WAYPOINT',
                  cel: 'has(self.context) ? ((self.context == "WAYPOINT") ? has(self.waypoint) : !has(self.waypoint)) : !has(self.waypoint)',
                  test: (m) =>
                    m.context === 'WAYPOINT' ? m.waypoint !== undefined : m.waypoint === undefined,
                },
              ],
            },
          ),
          patch: obj({
            operation: enumOf([
              'INVALID',
              'MERGE',
              'ADD',
              'REMOVE',
              'INSERT_BEFORE',
              'INSERT_AFTER',
              'INSERT_FIRST',
              'REPLACE',
              'MERGE_AND_REPLACE_LIST',
            ]),
            value: any({ objectOnly: true }),
            filterClass: enumOf(['UNSPECIFIED', 'AUTHN', 'AUTHZ', 'STATS']),
          }),
        }),
      ),
    },
    {
      rules: [
        atMostOne(
          ['workloadSelector', 'targetRefs'],
          'only one of targetRefs or workloadSelector can be set',
        ),
      ],
    },
  );

// ---- ProxyConfig

export const proxyConfigSpec = (): Schema =>
  obj({
    selector: workloadSelector(),
    concurrency: i32({ minimum: 0, nullable: true }),
    environmentVariables: map(str({ maxLength: 2048 })),
    image: obj({ imageType: str() }),
  });

// The Envoy bootstrap of a Flotilla sidecar, in the shape of Istio's tools/packaging/common/envoy_bootstrap.json:
// the node's identity and metadata, the admin port, two static clusters — xds-grpc (pilot, ADS over HTTP/2 and
// mTLS) and sds-grpc (the mesh agent's SDS on a Unix socket, built by libs/mesh-agent) — and LDS/CDS from ADS
// over xds-grpc (RDS, EDS and SDS come from the resources those name).
import {
  ROOT_SECRET_NAME,
  SDS_SOCKET_PATH,
  WORKLOAD_SECRET_NAME,
  sdsGrpcCluster,
  sdsSecretConfig,
} from '@flotilla/mesh-agent';
import {
  bootstrap,
  cluster,
  configSource,
  http2ProtocolOptions,
  httpConnectionManager,
  listener,
  packAny,
  router,
  tls,
  tlsCommon,
} from '@flotilla/proto';
import { canonicalJson } from './proto-json';

/** Envoy's admin interface (Istio's 15000, on localhost only). */
export const DEFAULT_ADMIN_PORT = 15000;
/** Pilot's mTLS xDS port (Istio's 15012); its plaintext one is 15010. */
export const DEFAULT_PILOT_ADDRESS = 'pilot.istio-system.svc:15012';
/** Where Istio's agent serves SDS, relative to Envoy's working directory. */
export const DEFAULT_SDS_SOCKET = SDS_SOCKET_PATH;
/** Envoy's merged Prometheus endpoint (Istio's 15090, /stats/prometheus); 0 leaves it out. */
export const DEFAULT_PROMETHEUS_PORT = 15090;
export const XDS_CLUSTER = 'xds-grpc';
const PROMETHEUS_CLUSTER = 'prometheus_stats';
export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** How Envoy authenticates to pilot and checks pilot's certificate. */
export type XdsTransport =
  /** The workload certificate ("default") and trust bundle ("ROOTCA") from the mesh agent's SDS. */
  | { kind: 'sds' }
  /** PEM files on disk (an init step or a mounted Secret wrote them). */
  | { kind: 'files'; certFile: string; keyFile: string; caFile: string }
  /** Plaintext, to pilot's 15010 (local development, or where the network is trusted). */
  | { kind: 'plaintext' };

export interface BootstrapOptions {
  /** "sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local". */
  proxyId: string;
  /** host:port of pilot's xDS server. */
  pilot: string;
  sdsSocket: string;
  xdsTransport: XdsTransport;
  labels: Record<string, string>;
  adminPort: number;
  /** Port of the listener that serves /stats/prometheus from the admin interface to scrapers; 0 for none. */
  prometheusPort: number;
  istioVersion: string;
  /** The SPIFFE id pilot's certificate must carry; any certificate from the mesh CA when absent. */
  pilotIdentity?: string;
  /** Envoy's --service-cluster: "<app>.<namespace>" by default, as Istio names it. */
  serviceCluster?: string;
}

export class BootstrapError extends Error {}

/** The parts of a sidecar node id, checked the way pilot reads it (apps/pilot/src/generators/model.ts). */
export function parseProxyId(id: string): {
  type: string;
  ip: string;
  pod: string;
  namespace: string;
  domain: string;
} {
  const parts = id.split('~');
  const [type, ip, podDotNs, domain] = parts;
  const dot = podDotNs?.indexOf('.') ?? -1;
  if (parts.length !== 4 || !['sidecar', 'router'].includes(type) || !ip || dot <= 0 || !domain) {
    throw new BootstrapError(
      `--proxy ${JSON.stringify(id)}: expected "sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local" ` +
        '(or "router~…" for a gateway)',
    );
  }
  return { type, ip, pod: podDotNs.slice(0, dot), namespace: podDotNs.slice(dot + 1), domain };
}

/** "host:port" (a bracketed IPv6 host allowed). */
export function parseHostPort(value: string, option: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw new BootstrapError(`${option} ${JSON.stringify(value)}: expected host:port, such as pilot:15012`);
  }
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

/** TLS to pilot: ALPN h2, the SNI of pilot's host, pilot's identity checked when given. */
function xdsTransportSocket(options: BootstrapOptions, host: string) {
  const transport = options.xdsTransport;
  if (transport.kind === 'plaintext') return undefined;
  const sanMatch = options.pilotIdentity
    ? {
        matchTypedSubjectAltNames: [
          { sanType: tlsCommon.SubjectAltNameMatcher_SanType.URI, matcher: { exact: options.pilotIdentity } },
        ],
      }
    : {};
  const common =
    transport.kind === 'sds'
      ? {
          tlsCertificateSdsSecretConfigs: [sdsSecretConfig(WORKLOAD_SECRET_NAME)],
          combinedValidationContext: {
            defaultValidationContext: sanMatch,
            validationContextSdsSecretConfig: sdsSecretConfig(ROOT_SECRET_NAME),
          },
        }
      : {
          tlsCertificates: [
            {
              certificateChain: { filename: transport.certFile },
              privateKey: { filename: transport.keyFile },
            },
          ],
          validationContext: { trustedCa: { filename: transport.caFile }, ...sanMatch },
        };
  const context = tls.UpstreamTlsContext.fromPartial({
    commonTlsContext: { ...common, alpnProtocols: ['h2'] },
    sni: host,
  });
  return { name: 'envoy.transport_sockets.tls', typedConfig: packAny(tls.UpstreamTlsContext, context) };
}

/** ADS for a resource type: LDS and CDS wait for pilot however long it takes (Istio: initial_fetch_timeout 0s). */
function adsSource() {
  return {
    ads: {},
    initialFetchTimeout: { seconds: 0, nanos: 0 },
    resourceApiVersion: configSource.ApiVersion.V3,
  };
}

/**
 * Istio's prometheus_stats: the admin interface stays on localhost, and only GET /stats/prometheus is exposed
 * on all addresses, through a listener that forwards it to the admin port.
 */
function prometheusResources(options: BootstrapOptions) {
  if (options.prometheusPort === 0) return { listeners: [], clusters: [] };
  const hcm = httpConnectionManager.HttpConnectionManager.fromPartial({
    statPrefix: 'stats',
    routeConfig: {
      virtualHosts: [
        {
          name: 'backend',
          domains: ['*'],
          routes: [{ match: { prefix: '/stats/prometheus' }, route: { cluster: PROMETHEUS_CLUSTER } }],
        },
      ],
    },
    httpFilters: [
      {
        name: 'envoy.filters.http.router',
        typedConfig: packAny(router.Router, router.Router.fromPartial({})),
      },
    ],
  });
  return {
    listeners: [
      listener.Listener.fromPartial({
        name: 'prometheus_stats',
        address: { socketAddress: { address: '0.0.0.0', portValue: options.prometheusPort } },
        filterChains: [
          {
            filters: [
              {
                name: 'envoy.filters.network.http_connection_manager',
                typedConfig: packAny(httpConnectionManager.HttpConnectionManager, hcm),
              },
            ],
          },
        ],
      }),
    ],
    clusters: [
      cluster.Cluster.fromPartial({
        name: PROMETHEUS_CLUSTER,
        type: cluster.Cluster_DiscoveryType.STATIC,
        connectTimeout: { seconds: 0, nanos: 250_000_000 },
        loadAssignment: {
          clusterName: PROMETHEUS_CLUSTER,
          endpoints: [
            {
              lbEndpoints: [
                {
                  endpoint: {
                    address: { socketAddress: { address: '127.0.0.1', portValue: options.adminPort } },
                  },
                },
              ],
            },
          ],
        },
      }),
    ],
  };
}

export function buildBootstrap(options: BootstrapOptions): bootstrap.Bootstrap {
  const id = parseProxyId(options.proxyId);
  const pilot = parseHostPort(options.pilot, '--pilot');
  const serviceCluster = options.serviceCluster ?? `${options.labels['app'] ?? id.pod}.${id.namespace}`;
  const connectTimeout = { seconds: 1, nanos: 0 };
  const prometheus = prometheusResources(options);
  return bootstrap.Bootstrap.fromPartial({
    node: {
      id: options.proxyId,
      cluster: serviceCluster,
      // What pilot reads from the node (proxyOf): its labels select policies and inbound endpoints.
      metadata: {
        ISTIO_VERSION: options.istioVersion,
        LABELS: options.labels,
        NAMESPACE: id.namespace,
        INSTANCE_IPS: id.ip,
        POD_NAME: id.pod,
        CLUSTER_ID: 'Kubernetes',
      },
    },
    admin: {
      address: { socketAddress: { address: '127.0.0.1', portValue: options.adminPort } },
    },
    dynamicResources: {
      ldsConfig: adsSource(),
      cdsConfig: adsSource(),
      adsConfig: {
        apiType: configSource.ApiConfigSource_ApiType.GRPC,
        transportApiVersion: configSource.ApiVersion.V3,
        setNodeOnFirstMessageOnly: true,
        grpcServices: [{ envoyGrpc: { clusterName: XDS_CLUSTER } }],
      },
    },
    staticResources: {
      listeners: prometheus.listeners,
      clusters: [
        ...prometheus.clusters,
        cluster.Cluster.fromPartial({
          name: XDS_CLUSTER,
          type: cluster.Cluster_DiscoveryType.STRICT_DNS,
          respectDnsTtl: true,
          dnsLookupFamily: cluster.Cluster_DnsLookupFamily.V4_ONLY,
          connectTimeout,
          lbPolicy: cluster.Cluster_LbPolicy.ROUND_ROBIN,
          loadAssignment: {
            clusterName: XDS_CLUSTER,
            endpoints: [
              {
                lbEndpoints: [
                  {
                    endpoint: { address: { socketAddress: { address: pilot.host, portValue: pilot.port } } },
                  },
                ],
              },
            ],
          },
          typedExtensionProtocolOptions: http2ProtocolOptions(),
          transportSocket: xdsTransportSocket(options, pilot.host),
        }),
        sdsGrpcCluster(options.sdsSocket, connectTimeout),
      ],
    },
  });
}

/** The bootstrap as Envoy reads it (`envoy -c bootstrap.json`): proto JSON with every Any carrying its "@type". */
export function bootstrapJson(message: bootstrap.Bootstrap): string {
  const json = canonicalJson(BOOTSTRAP_TYPE, bootstrap.Bootstrap.encode(message).finish());
  return `${JSON.stringify(json, null, 2)}\n`;
}

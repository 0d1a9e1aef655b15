import { configDump, configDumpShared, packAny } from '@flotilla/proto';
import type { Logger } from '@flotilla/service-kit';
import { TypeUrl, contentVersion } from '@flotilla/xds';
import type {
  AdsServer,
  ConnectionInfo,
  EncodedResourceCache,
  GenerateContext,
  Generator,
  PushRequest,
  PushScope,
  ResourceEntry,
  ResourceFilter,
} from '@flotilla/xds';
import { EnvoyGenerator } from './generators/envoy';
import type { MeshConfig } from './generators/envoy';
import { GrpcGenerator } from './generators/grpc-generator';
import { listenerHostCandidates } from './generators/listener';
import {
  SERVER_LISTENER_PREFIX,
  parseClusterName,
  proxyOf,
  sortedNames,
  splitHostPort,
} from './generators/model';
import type { Proxy } from './generators/model';
import type { ConfigGenerator, GenerateRequest, GeneratorOutput } from './generators/types';
import type { ConfigScope, MeshModel } from './mesh-model';

const ALL_TYPES = [
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
];

const OUTPUTS: readonly [string, GeneratorOutput][] = [
  [TypeUrl.Listener, 'buildListeners'],
  [TypeUrl.RouteConfiguration, 'buildRoutes'],
  [TypeUrl.Cluster, 'buildClusters'],
  [TypeUrl.ClusterLoadAssignment, 'buildEndpoints'],
];

/** Outputs built once in a push (see oncePerPush): a trie of sorted names under generator, output and sharing key. */
type SharedOutputs = Map<ConfigGenerator, Map<GeneratorOutput, Map<string, NamesNode>>>;

interface NamesNode {
  entries?: ResourceEntry[];
  next?: Map<string, NamesNode>;
}

export interface PilotXdsOptions {
  model: MeshModel;
  logger: Logger;
  /**
   * Generators by node metadata GENERATOR; a sidecar node without GENERATOR gets the "envoy" one. Default: "grpc"
   * (proxyless gRPC) and "envoy" (Envoy sidecars).
   */
  generators?: ReadonlyMap<string, ConfigGenerator>;
  /** The mesh config the Envoy generator follows (outboundTrafficPolicy); default ALLOW_ANY. */
  meshConfig?: MeshConfig;
  /** Share encodings across proxies with identical inputs (default true); off only to measure what it saves. */
  shareEncodings?: boolean;
  /** Requests wait for this (galley's first complete config) before they are answered. */
  ready?: Promise<void>;
}

/**
 * Pilot's side of the ADS server: per-type xDS generators that pick a ConfigGenerator by the node's GENERATOR
 * metadata, the push policy (full pushes for config and service changes, EDS-only pushes scoped to the proxies
 * watching the changed hostnames), and the config dump of a connected proxy.
 */
export class PilotXds {
  private readonly model: MeshModel;
  private readonly logger: Logger;
  private readonly generators: ReadonlyMap<string, ConfigGenerator>;
  private readonly shareEncodings: boolean;
  private readonly proxies = new WeakMap<ConnectionInfo, Proxy>();
  private readonly warnedNoGenerator = new WeakSet<ConnectionInfo>();
  private ready: Promise<void> | undefined;
  private readonly sharedByPush = new WeakMap<PushRequest, SharedOutputs>();

  constructor(options: PilotXdsOptions) {
    this.model = options.model;
    this.logger = options.logger.child({ module: 'pilot-xds' });
    this.generators =
      options.generators ??
      new Map<string, ConfigGenerator>([
        ['grpc', new GrpcGenerator((message) => this.logger.warn(message))],
        ['envoy', new EnvoyGenerator(options.meshConfig)],
      ]);
    this.shareEncodings = options.shareEncodings ?? true;
    this.ready = options.ready;
    void this.ready?.then(() => (this.ready = undefined));
  }

  /** The ADS generators of the four types pilot serves. */
  xdsGenerators(): Record<string, Generator> {
    const out: Record<string, Generator> = {};
    for (const [typeUrl, output] of OUTPUTS) {
      const build = (context: GenerateContext): ResourceEntry[] => {
        const generator = this.configGeneratorFor(context.connection);
        if (!generator) return [];
        const names = context.watched.wildcard ? undefined : context.watched.names;
        const shared = names && generator.sharedBy?.(output, this.proxyOf(context.connection));
        if (shared !== undefined) return this.oncePerPush(generator, output, shared, context, names!);
        return generator[output](this.request(context.connection, names, context.cache));
      };
      // Synchronous once galley's first config is in: a push calls this for thousands of connections.
      out[typeUrl] = (context) => (this.ready ? this.ready.then(() => build(context)) : build(context));
    }
    return out;
  }

  /**
   * An output that depends on only part of the proxy (the generator's `sharedBy` key): built once per push for each
   * key and list of names, and handed to every proxy of the push asking the same (an endpoint push sends the same
   * assignments to thousands of proxies). The memo lives as long as the push.
   */
  private oncePerPush(
    generator: ConfigGenerator,
    output: GeneratorOutput,
    shared: string,
    context: GenerateContext,
    names: ReadonlySet<string>,
  ): ResourceEntry[] {
    let memo = this.sharedByPush.get(context.push);
    if (!memo) {
      memo = new Map();
      this.sharedByPush.set(context.push, memo);
    }
    // Looked up without building a key string: by generator, output and sharing key, then name by name (sorted).
    let byOutput = memo.get(generator);
    if (!byOutput) memo.set(generator, (byOutput = new Map()));
    let byKey = byOutput.get(output);
    if (!byKey) byOutput.set(output, (byKey = new Map()));
    let node = byKey.get(shared);
    if (!node) byKey.set(shared, (node = {}));
    for (const name of sortedNames(names)) {
      node.next ??= new Map();
      let child = node.next.get(name);
      if (!child) node.next.set(name, (child = {}));
      node = child;
    }
    node.entries ??= generator[output](this.request(context.connection, names, context.cache));
    return node.entries;
  }

  /**
   * Subscribes the ADS server's pushes to the model's changes. A change scoped to some hosts regenerates, for
   * proxyless gRPC clients, only the resources of those hosts (listeners and routes for a VirtualService; routes,
   * clusters and endpoints for a DestinationRule; everything of a changed service, and server listeners), and
   * reaches only the clients watching them. Envoy sidecars, whose resources are not named by host, get every type
   * regenerated on a config change, except that a VirtualService change leaves their named subscriptions of clusters
   * and endpoints alone (wildcard ones are always regenerated); an unchanged type is not resent.
   */
  wire(ads: AdsServer): () => void {
    return this.model.onChange((change) => {
      if (change.kind === 'endpoints') {
        ads.push([TypeUrl.ClusterLoadAssignment, TypeUrl.Listener], {
          reason: 'endpoint',
          resources: this.endpointFilter(change.hosts),
        });
      } else if (change.scope) {
        ads.push(ALL_TYPES, { reason: change.reason, resources: this.scopedFilter(change.scope) });
      } else {
        ads.pushAll(change.reason);
      }
    });
  }

  /** Whether a connection is served by the proxyless gRPC generator, whose resources are named by host. */
  private isGrpc(connection: ConnectionInfo): boolean {
    return this.configGeneratorFor(connection) instanceof GrpcGenerator;
  }

  /**
   * An endpoint change alters the ClusterLoadAssignments of the changed hosts (for every kind of proxy), and may
   * alter the server listeners of proxyless gRPC servers, which exist only for addresses that are endpoints.
   */
  private endpointFilter(hosts: ReadonlySet<string>): ResourceFilter {
    const inHosts = clusterNamesIn(hosts);
    const isServerListener = (name: string) => name.startsWith(SERVER_LISTENER_PREFIX);
    const filter = (connection: ConnectionInfo, typeUrl: string, name: string) => {
      if (typeUrl === TypeUrl.ClusterLoadAssignment) return inHosts(name);
      return typeUrl === TypeUrl.Listener && isServerListener(name) && this.isGrpc(connection);
    };
    // By name alone: the ADS server finds the streams subscribing to the changed hosts' clusters through its index.
    return Object.assign(filter, {
      byName: (typeUrl: string) =>
        typeUrl === TypeUrl.ClusterLoadAssignment
          ? inHosts
          : typeUrl === TypeUrl.Listener
            ? isServerListener
            : undefined,
    });
  }

  private scopedFilter(scope: ConfigScope): ResourceFilter {
    const types = new Set<string>();
    if (scope.outputs.has('listeners') || scope.inbound) types.add(TypeUrl.Listener);
    if (scope.outputs.has('routes')) types.add(TypeUrl.RouteConfiguration);
    if (scope.outputs.has('clusters')) types.add(TypeUrl.Cluster);
    if (scope.outputs.has('endpoints')) types.add(TypeUrl.ClusterLoadAssignment);
    // Envoy's resources are not named by host, but by type they are: a VirtualService shapes routes and the HTTP
    // filters of outbound listeners (fault, CORS), never clusters or endpoints.
    const routesOnly = scope.outputs.size === 1 && scope.outputs.has('routes') && !scope.inbound;
    const inHosts = clusterNamesIn(scope.hosts);
    const routeInHosts = (name: string) => {
      const host = splitHostPort(name)?.host;
      return host !== undefined && scope.hosts.has(host);
    };
    const filter = (connection: ConnectionInfo, typeUrl: string, name: string): boolean => {
      if (!this.isGrpc(connection)) {
        return !routesOnly || typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.RouteConfiguration;
      }
      if (!types.has(typeUrl)) return false;
      switch (typeUrl) {
        case TypeUrl.Listener:
          if (name.startsWith(SERVER_LISTENER_PREFIX)) return scope.inbound;
          return (
            scope.outputs.has('listeners') &&
            listenerHostCandidates(name, this.proxyOf(connection), this.model.domainSuffix).some((h) =>
              scope.hosts.has(h),
            )
          );
        case TypeUrl.RouteConfiguration:
          return routeInHosts(name);
        default:
          return inHosts(name);
      }
    };
    // For proxyless gRPC clients, whose resources are named by host, the names alone tell (an outbound listener's
    // name may be a short host, "reviews:9080", completed with the proxy's namespace: it may stand for a host of
    // the scope when it is one, or the start of one up to a dot). The ADS server then finds their streams through
    // its index; Envoy's are asked in turn.
    const shortHosts = hostPrefixes(scope.hosts);
    const listenerNamed = (name: string) => {
      if (name.startsWith(SERVER_LISTENER_PREFIX)) return scope.inbound;
      const host = splitHostPort(name)?.host;
      return scope.outputs.has('listeners') && host !== undefined && shortHosts.has(host);
    };
    const none = () => false;
    return Object.assign(filter, {
      byName: (typeUrl: string) => {
        if (!types.has(typeUrl)) return none;
        if (typeUrl === TypeUrl.Listener) return listenerNamed;
        if (typeUrl === TypeUrl.RouteConfiguration) return routeInHosts;
        return inHosts;
      },
      unindexed: (connection: ConnectionInfo) => !this.isGrpc(connection),
    });
  }

  proxyOf(connection: ConnectionInfo): Proxy {
    let proxy = this.proxies.get(connection);
    if (!proxy) {
      proxy = proxyOf(connection.node, this.model.domainSuffix);
      this.proxies.set(connection, proxy);
    }
    return proxy;
  }

  /**
   * The generator for a connection: by its GENERATOR metadata, or "envoy" for a sidecar or gateway ("router~…")
   * without one; undefined (logged once per connection) for anything else.
   */
  configGeneratorFor(connection: ConnectionInfo): ConfigGenerator | undefined {
    const proxy = this.proxyOf(connection);
    const name = proxy.generator || (proxy.type === 'sidecar' || proxy.type === 'router' ? 'envoy' : '');
    const generator = name ? this.generators.get(name) : undefined;
    if (!generator && !this.warnedNoGenerator.has(connection)) {
      this.warnedNoGenerator.add(connection);
      this.logger.warn(
        { connection: connection.id, generator: proxy.generator || undefined, type: proxy.type },
        'no xDS generator for this node (served: GENERATOR=grpc, Envoy sidecars and gateways): ' +
          'it is sent empty responses',
      );
    }
    return generator;
  }

  private request(
    connection: ConnectionInfo,
    names: ReadonlySet<string> | undefined,
    cache: EncodedResourceCache | undefined,
  ): GenerateRequest {
    return {
      proxy: this.proxyOf(connection),
      push: this.model.pushContext(),
      names,
      cache: this.shareEncodings ? cache : undefined,
    };
  }

  /**
   * What a connected proxy would be sent now for its current subscriptions, as an envoy.admin.v3.ConfigDump
   * (clusters, listeners, routes, endpoints). Undefined for a node without a generator.
   */
  configDump(connection: ConnectionInfo): configDump.ConfigDump | undefined {
    const generator = this.configGeneratorFor(connection);
    if (!generator) return undefined;
    const build = (typeUrl: string, output: GeneratorOutput): ResourceEntry[] => {
      const watched = connection.watched(typeUrl);
      if (!watched) return [];
      const entries = generator[output](
        this.request(connection, watched.wildcard ? undefined : watched.names, undefined),
      );
      return watched.wildcard ? entries : entries.filter((e) => watched.names.has(e.name));
    };
    const version = (e: ResourceEntry) => e.version ?? contentVersion(e.resource);
    const clusters = build(TypeUrl.Cluster, 'buildClusters');
    const listeners = build(TypeUrl.Listener, 'buildListeners');
    const routes = build(TypeUrl.RouteConfiguration, 'buildRoutes');
    const endpoints = build(TypeUrl.ClusterLoadAssignment, 'buildEndpoints');
    const dumps = [
      packAny(
        configDumpShared.ClustersConfigDump,
        configDumpShared.ClustersConfigDump.fromPartial({
          dynamicActiveClusters: clusters.map((e) => ({
            versionInfo: version(e),
            cluster: e.resource,
          })),
        }),
      ),
      packAny(
        configDumpShared.ListenersConfigDump,
        configDumpShared.ListenersConfigDump.fromPartial({
          dynamicListeners: listeners.map((e) => ({
            name: e.name,
            activeState: {
              versionInfo: version(e),
              listener: e.resource,
            },
          })),
        }),
      ),
      packAny(
        configDumpShared.RoutesConfigDump,
        configDumpShared.RoutesConfigDump.fromPartial({
          dynamicRouteConfigs: routes.map((e) => ({
            versionInfo: version(e),
            routeConfig: e.resource,
          })),
        }),
      ),
      packAny(
        configDumpShared.EndpointsConfigDump,
        configDumpShared.EndpointsConfigDump.fromPartial({
          dynamicEndpointConfigs: endpoints.map((e) => ({
            versionInfo: version(e),
            endpointConfig: e.resource,
          })),
        }),
      ),
    ];
    return configDump.ConfigDump.fromPartial({ configs: dumps });
  }
}

/** Connections that watch the endpoints of any of `hosts` (or all endpoints). */
export function watchingHosts(hosts: ReadonlySet<string>): PushScope {
  const inHosts = clusterNamesIn(hosts);
  return (connection) => {
    const watched = connection.watched(TypeUrl.ClusterLoadAssignment);
    if (!watched) return false;
    if (watched.wildcard) return true;
    for (const name of watched.names) if (inHosts(name)) return true;
    return false;
  };
}

/** Up to this many hosts, clusterNamesIn compares name endings instead of keeping a memo. */
const SUFFIX_TEST_MAX_HOSTS = 8;

/**
 * Whether a cluster name (`<direction>|<port>|<subset>|<host>`) is of one of `hosts`. A push asks this of every
 * name every connection subscribes to. For a few hosts (an endpoint change names one or two) the name's ending is
 * compared with `|<host>`: every connection's names are separate strings, so a memo keyed by name costs a hash
 * lookup and a full string comparison per name, several times what comparing the ending does. For more hosts the
 * answer is remembered per name for as long as the push's filter lives.
 */
function clusterNamesIn(hosts: ReadonlySet<string>): (name: string) => boolean {
  if (hosts.size <= SUFFIX_TEST_MAX_HOSTS) {
    const endings = [...hosts].map((host) => `|${host}`);
    return (name) => {
      for (const ending of endings) {
        if (name.endsWith(ending)) return parseClusterName(name)?.host !== undefined;
      }
      return false;
    };
  }
  const memo = new Map<string, boolean>();
  return (name) => {
    let inHosts = memo.get(name);
    if (inHosts === undefined) {
      const host = parseClusterName(name)?.host;
      inHosts = host !== undefined && hosts.has(host);
      memo.set(name, inHosts);
    }
    return inHosts;
  };
}

/** Each host, and each start of it that ends before a dot ("a.b.c" → "a.b.c", "a.b", "a"). */
function hostPrefixes(hosts: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const host of hosts) {
    out.add(host);
    for (let dot = host.indexOf('.'); dot > 0; dot = host.indexOf('.', dot + 1)) out.add(host.slice(0, dot));
  }
  return out;
}

import { configDump, configDumpShared, packAny } from '@flotilla/proto';
import type { Logger } from '@flotilla/service-kit';
import { TypeUrl, contentVersion } from '@flotilla/xds';
import type {
  AdsServer,
  ConnectionInfo,
  EncodedResourceCache,
  Generator,
  PushScope,
  ResourceEntry,
} from '@flotilla/xds';
import { EnvoyGenerator } from './generators/envoy';
import type { MeshConfig } from './generators/envoy';
import { GrpcGenerator } from './generators/grpc-generator';
import { parseClusterName, proxyOf } from './generators/model';
import type { Proxy } from './generators/model';
import type { ConfigGenerator, GenerateRequest } from './generators/types';
import type { MeshModel } from './mesh-model';

type Output = 'buildListeners' | 'buildRoutes' | 'buildClusters' | 'buildEndpoints';

const OUTPUTS: readonly [string, Output][] = [
  [TypeUrl.Listener, 'buildListeners'],
  [TypeUrl.RouteConfiguration, 'buildRoutes'],
  [TypeUrl.Cluster, 'buildClusters'],
  [TypeUrl.ClusterLoadAssignment, 'buildEndpoints'],
];

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
      out[typeUrl] = async (context) => {
        if (this.ready) await this.ready;
        const generator = this.configGeneratorFor(context.connection);
        if (!generator) return [];
        return generator[output](
          this.request(
            context.connection,
            context.watched.wildcard ? undefined : context.watched.names,
            context.cache,
          ),
        );
      };
    }
    return out;
  }

  /** Subscribes the ADS server's pushes to the model's changes. */
  wire(ads: AdsServer): () => void {
    return this.model.onChange((change) => {
      if (change.kind === 'config') {
        ads.pushAll(change.reason);
      } else {
        ads.push([TypeUrl.ClusterLoadAssignment], { reason: 'endpoint', scope: watchingHosts(change.hosts) });
      }
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
   * The generator for a connection: by its GENERATOR metadata, or "envoy" for a sidecar without one; undefined
   * (logged once per connection) for anything else, such as gateways ("router~…"), which have none yet.
   */
  configGeneratorFor(connection: ConnectionInfo): ConfigGenerator | undefined {
    const proxy = this.proxyOf(connection);
    const name = proxy.generator || (proxy.type === 'sidecar' ? 'envoy' : '');
    const generator = name ? this.generators.get(name) : undefined;
    if (!generator && !this.warnedNoGenerator.has(connection)) {
      this.warnedNoGenerator.add(connection);
      this.logger.warn(
        { connection: connection.id, generator: proxy.generator || undefined, type: proxy.type },
        'no xDS generator for this node (served: GENERATOR=grpc and Envoy sidecars; gateways are not yet): ' +
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
    const build = (typeUrl: string, output: Output): ResourceEntry[] => {
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
  return (connection) => {
    const watched = connection.watched(TypeUrl.ClusterLoadAssignment);
    if (!watched) return false;
    if (watched.wildcard) return true;
    for (const name of watched.names) {
      const host = parseClusterName(name)?.host;
      if (host !== undefined && hosts.has(host)) return true;
    }
    return false;
  };
}

import { cluster, configDumpShared, listener, route, unpackAny } from '@flotilla/proto';
import type { protobufAny, configDump } from '@flotilla/proto';

/** The configuration a simulated Envoy holds: its listeners (LDS), route configurations (RDS) and clusters (CDS). */
export interface EnvoyConfig {
  listeners: listener.Listener[];
  routes: route.RouteConfiguration[];
  clusters: cluster.Cluster[];
}

/** Sorts xDS resources (as Any, the way pilot sends them) into an EnvoyConfig; other types are ignored. */
export function configFromResources(resources: Iterable<protobufAny.Any>): EnvoyConfig {
  const config: EnvoyConfig = { listeners: [], routes: [], clusters: [] };
  for (const any of resources) {
    const type = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
    if (type === listener.Listener.$type) config.listeners.push(unpackAny(any, listener.Listener));
    else if (type === route.RouteConfiguration.$type)
      config.routes.push(unpackAny(any, route.RouteConfiguration));
    else if (type === cluster.Cluster.$type) config.clusters.push(unpackAny(any, cluster.Cluster));
  }
  return config;
}

/**
 * The active configuration in an envoy.admin.v3.ConfigDump (pilot's /debug/config_dump or Envoy's own): static
 * and active dynamic listeners, static and dynamic route configurations, static and active dynamic clusters.
 */
export function configFromDump(dump: configDump.ConfigDump): EnvoyConfig {
  const resources: protobufAny.Any[] = [];
  const add = (any: protobufAny.Any | undefined) => {
    if (any) resources.push(any);
  };
  const { ListenersConfigDump, RoutesConfigDump, ClustersConfigDump } = configDumpShared;
  for (const section of dump.configs) {
    const type = section.typeUrl.slice(section.typeUrl.lastIndexOf('/') + 1);
    if (type === ListenersConfigDump.$type) {
      const d = unpackAny(section, ListenersConfigDump);
      d.staticListeners.forEach((l) => add(l.listener));
      d.dynamicListeners.forEach((l) => add(l.activeState?.listener));
    } else if (type === RoutesConfigDump.$type) {
      const d = unpackAny(section, RoutesConfigDump);
      d.staticRouteConfigs.forEach((r) => add(r.routeConfig));
      d.dynamicRouteConfigs.forEach((r) => add(r.routeConfig));
    } else if (type === ClustersConfigDump.$type) {
      const d = unpackAny(section, ClustersConfigDump);
      d.staticClusters.forEach((c) => add(c.cluster));
      d.dynamicActiveClusters.forEach((c) => add(c.cluster));
    }
  }
  return configFromResources(resources);
}

import { configDump } from '@flotilla/proto';
import type { DebugHandler } from '@flotilla/service-kit';
import type { AdsServer } from '@flotilla/xds';
import type { MeshModel } from './mesh-model';
import type { PilotXds } from './xds';

function json(body: unknown, status = 200) {
  return { status, contentType: 'application/json', body: `${JSON.stringify(body, null, 2)}\n` };
}

/** /debug/configz: the config store by kind, and the services of the registry. */
export function configzHandler(model: MeshModel): DebugHandler {
  return () =>
    json({
      ...model.store.toJSON(),
      services: model.registry
        .services()
        .map((s) => ({
          ...s,
          endpoints: Object.fromEntries(
            s.ports.map((p) => [p.port, model.registry.endpoints(s.hostname, p.port)]),
          ),
        }))
        .sort((a, b) => a.hostname.localeCompare(b.hostname)),
    });
}

/** /debug/adsz: every connection with its node and subscriptions (names per type, wildcard or not). */
export function adszHandler(ads: AdsServer, xds: PilotXds): DebugHandler {
  return () =>
    json(
      ads
        .connections()
        .map((c) => {
          const proxy = xds.proxyOf(c);
          return {
            id: c.id,
            protocol: c.protocol,
            peer: c.peer,
            connectedAt: c.connectedAt.toISOString(),
            node: c.node.id,
            generator: proxy.generator || null,
            namespace: proxy.namespace,
            subscriptions: Object.fromEntries(
              c.watchedTypes().map((t) => {
                const w = c.watched(t)!;
                return [t, { wildcard: w.wildcard, names: [...w.names].sort() }];
              }),
            ),
          };
        })
        .sort((a, b) => a.id.localeCompare(b.id)),
    );
}

/**
 * /debug/config_dump?proxyID=<node id or connection id>: what that proxy would be sent now, as an
 * envoy.admin.v3.ConfigDump in proto JSON (Any as "@type").
 */
export function configDumpHandler(ads: AdsServer, xds: PilotXds): DebugHandler {
  return (url) => {
    const proxyId = url.searchParams.get('proxyID');
    if (!proxyId) return json({ error: 'proxyID is required: /debug/config_dump?proxyID=<node id>' }, 400);
    const connection = ads.connections().find((c) => c.id === proxyId || c.node.id === proxyId);
    if (!connection) return json({ error: `no connected proxy ${proxyId}` }, 404);
    const dump = xds.configDump(connection);
    if (!dump)
      return json(
        { error: `no generator for proxy ${proxyId} (served: GENERATOR=grpc and Envoy sidecars)` },
        404,
      );
    return json(configDump.ConfigDump.toJSON(dump));
  };
}

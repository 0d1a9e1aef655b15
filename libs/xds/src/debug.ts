import type { DebugHandler } from '@flotilla/service-kit';
import type { ConnectionStatus } from './status';

/**
 * A /debug/syncz page (MonitoringServer.addDebugPage): every connection's per-type sync state as JSON. With
 * `?proxyID=<node id or connection id>` it lists only the matching connections.
 */
export function syncDebugHandler(source: { status(): ConnectionStatus[] }): DebugHandler {
  return (url) => {
    const proxyId = url.searchParams.get('proxyID');
    const connections = source.status().filter((c) => !proxyId || c.node.id === proxyId || c.id === proxyId);
    return { contentType: 'application/json', body: `${JSON.stringify(connections, null, 2)}\n` };
  };
}

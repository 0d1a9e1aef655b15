// What a gateway proxy ("router~…") serves: the servers of the Gateway resources selecting it (by its LABELS),
// grouped by port, and the VirtualServices bound to those gateways.
import type { ConfigEntry } from '../../config-store';
import { resolveHost } from '../model';
import type { Proxy, PushContext } from '../model';
import { selectorMatches } from '@flotilla/registry';
import { virtualServiceGateways } from './http-route';
import type { GatewayServer, GatewaySpec, GatewayVirtualServiceSpec } from './istio-networking';

/** One server of one Gateway. */
export interface BoundServer {
  /** "namespace/name" of its Gateway. */
  gateway: string;
  gatewayName: string;
  gatewayNamespace: string;
  server: GatewayServer;
  /** The server's hosts without their "namespace/" part. */
  hosts: string[];
}

/** The servers of one port, and whether it is plaintext HTTP, terminated HTTPS, TLS or TCP. */
export interface GatewayPort {
  port: number;
  bind: string;
  servers: BoundServer[];
}

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);

export function isPlainHttpServer(s: GatewayServer): boolean {
  return HTTP_PROTOCOLS.has(s.port.protocol.toUpperCase());
}

/** An HTTPS server, or a TLS server whose TLS the gateway terminates: HTTP routing after the handshake. */
export function isHttpsServer(s: GatewayServer): boolean {
  return (
    s.port.protocol.toUpperCase() === 'HTTPS' &&
    s.tls?.mode !== 'PASSTHROUGH' &&
    s.tls?.mode !== 'AUTO_PASSTHROUGH'
  );
}

/** Gateways whose selector matches the proxy's labels (a Gateway without a selector selects every gateway). */
export function gatewaysFor(push: PushContext, proxy: Proxy): ConfigEntry<GatewaySpec>[] {
  return (push.gateways as ConfigEntry<GatewaySpec>[]).filter((g) =>
    selectorMatches(g.spec.selector ?? {}, proxy.labels),
  );
}

/** A server host without its namespace part ("ns/host", "*\/host", "./host" → "host"). */
function bareHost(host: string): string {
  const i = host.indexOf('/');
  return i >= 0 ? host.slice(i + 1) : host;
}

/** The servers of the proxy's gateways by port (and bind address), in port order. */
export function gatewayPorts(push: PushContext, proxy: Proxy): GatewayPort[] {
  const byKey = new Map<string, GatewayPort>();
  for (const g of gatewaysFor(push, proxy)) {
    for (const server of g.spec.servers ?? []) {
      const bind = server.bind || '0.0.0.0';
      const key = `${bind}_${server.port.number}`;
      let port = byKey.get(key);
      if (!port) byKey.set(key, (port = { port: server.port.number, bind, servers: [] }));
      port.servers.push({
        gateway: `${g.namespace}/${g.name}`,
        gatewayName: g.name,
        gatewayNamespace: g.namespace,
        server,
        hosts: server.hosts.map(bareHost),
      });
    }
  }
  return [...byKey.values()].sort((a, b) => a.port - b.port || a.bind.localeCompare(b.bind));
}

/**
 * The host both patterns match, the more specific one: equal hosts, "*" and anything, "*.example.com" and
 * "a.example.com"; undefined when they share none.
 */
export function hostIntersection(a: string, b: string): string | undefined {
  if (a === b || b === '*') return a;
  if (a === '*') return b;
  if (a.startsWith('*.') && b.endsWith(a.slice(1))) return b;
  if (b.startsWith('*.') && a.endsWith(b.slice(1))) return a;
  return undefined;
}

/** The VirtualServices bound to any of `gateways` ("namespace/name"), in namespace/name order, hosts resolved. */
export function virtualServicesForGateways(
  push: PushContext,
  gateways: ReadonlySet<string>,
): ConfigEntry<GatewayVirtualServiceSpec>[] {
  return (push.allVirtualServices as ConfigEntry<GatewayVirtualServiceSpec>[]).filter(
    (vs) =>
      (vs.spec.hosts ?? []).length > 0 &&
      virtualServiceGateways(vs.spec.gateways, vs.namespace).some((g) => gateways.has(g)),
  );
}

/** A VirtualService's hosts as routes see them (short names completed in its namespace). */
export function virtualServiceHosts(push: PushContext, vs: ConfigEntry<GatewayVirtualServiceSpec>): string[] {
  return (vs.spec.hosts ?? []).map((h) => resolveHost(h, vs.namespace, push.domainSuffix));
}

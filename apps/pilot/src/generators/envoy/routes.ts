import { packAny, route, routeComponents } from '@flotilla/proto';
import { TypeUrl, contentVersion } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import type { ConfigEntry } from '../../config-store';
import type { Proxy, PushContext } from '../model';
import { hostPort } from '../model';
import { virtualHostDomains } from '../route';
import { encoded } from '../types';
import type { GenerateRequest } from '../types';
import { PASSTHROUGH_CLUSTER, outboundHttpFilterNames, outboundKey } from './common';
import type { MeshConfig } from './common';
import { effectiveHttpRoutes } from './delegate';
import { defaultRoute, translateHttpRoutes } from './http-route';
import type { RouteContext } from './http-route';
import type { EnvoyVirtualServiceSpec } from './istio-networking';
import { planOutboundListeners } from './outbound-listeners';
import type { OutboundListenerPlan } from './outbound-listeners';

/** The status Envoy answers with when REGISTRY_ONLY blocks an unknown host (Istio's block_all virtual host). */
export const BLOCKED_STATUS = 502;

/** The virtual host for hosts no service claims: to PassthroughCluster (ALLOW_ANY) or a 502 (REGISTRY_ONLY). */
function catchAllVirtualHost(mesh: MeshConfig): routeComponents.VirtualHost {
  if (mesh.outboundTrafficPolicy.mode === 'REGISTRY_ONLY') {
    return routeComponents.VirtualHost.fromPartial({
      name: 'block_all',
      domains: ['*'],
      routes: [{ name: 'block_all', match: { prefix: '/' }, directResponse: { status: BLOCKED_STATUS } }],
    });
  }
  return routeComponents.VirtualHost.fromPartial({
    name: 'allow_any',
    domains: ['*'],
    routes: [
      {
        name: 'allow_any',
        match: { prefix: '/' },
        route: { cluster: PASSTHROUGH_CLUSTER, timeout: { seconds: 0, nanos: 0 } },
      },
    ],
  });
}

const MESH = new Set(['mesh']);

/**
 * The routes of one service port on a sidecar: those of the mesh VirtualServices for the host (delegates merged
 * in), or the default route to the service when none has any for this port.
 */
export function sidecarRoutes(push: PushContext, proxy: Proxy, host: string, port: number) {
  const ctx: RouteContext = { push, proxy, port, gateways: MESH, defaultDestinationPort: port };
  const virtualServices = push.virtualServicesFor(host, proxy.namespace);
  if (virtualServices.length === 0) return [defaultRoute(ctx, host, port)];
  return translateHttpRoutes(
    ctx,
    virtualServices.flatMap((vs) => effectiveHttpRoutes(push, vs as ConfigEntry<EnvoyVirtualServiceSpec>)),
  );
}

/**
 * The route configuration "<port>": one virtual host "<host>:<port>" per HTTP service on the port, with its
 * routes from its VirtualServices (the translation proxyless gRPC uses), and the catch-all virtual host last.
 * A domain two services would claim (a short name, an address) goes to the first by hostname only, since Envoy
 * rejects duplicate domains.
 */
export function routeConfiguration(
  push: PushContext,
  proxy: Proxy,
  plan: OutboundListenerPlan,
  mesh: MeshConfig,
): route.RouteConfiguration {
  const claimed = new Set<string>(['*']);
  const virtualHosts: routeComponents.VirtualHost[] = [];
  for (const { service, port } of plan.http) {
    const domains = virtualHostDomains(push, proxy, service, port).filter((d) => !claimed.has(d));
    for (const d of domains) claimed.add(d);
    virtualHosts.push(
      routeComponents.VirtualHost.fromPartial({
        name: hostPort(service.hostname, port),
        domains,
        routes: sidecarRoutes(push, proxy, service.hostname, port),
      }),
    );
  }
  virtualHosts.push(catchAllVirtualHost(mesh));
  return route.RouteConfiguration.fromPartial({
    name: String(plan.port),
    virtualHosts,
    // Routes may name subsets whose clusters arrive later; Envoy must not reject the whole configuration.
    validateClusters: false,
  });
}

const sourceLabelsUsed = new WeakMap<PushContext, boolean>();

/** Whether any VirtualService of this push matches on sourceLabels (worked out once per push). */
function usesSourceLabels(push: PushContext): boolean {
  let used = sourceLabelsUsed.get(push);
  if (used === undefined) {
    used = push.allVirtualServices.some((vs) =>
      (vs.spec.http ?? []).some((h) => (h.match ?? []).some((m) => m?.sourceLabels !== undefined)),
    );
    sourceLabelsUsed.set(push, used);
  }
  return used;
}

/** RDS for an Envoy sidecar: a route configuration per outbound HTTP port, named by the port. */
export function buildEnvoyRoutes(request: GenerateRequest, mesh: MeshConfig): ResourceEntry[] {
  const { push, proxy, names } = request;
  const out: ResourceEntry[] = [];
  // Routes depend on the proxy's own labels only through sourceLabels matches: without any in the mesh, proxies
  // of one namespace (and Sidecar) share one encoding of each route configuration.
  const labelsMatter = usesSourceLabels(push);
  const key = labelsMatter
    ? `${outboundKey(push, proxy, mesh)}|${JSON.stringify(proxy.labels)}`
    : outboundKey(push, proxy, mesh);
  for (const plan of planOutboundListeners(push, proxy)) {
    if (plan.tcp || plan.address !== '0.0.0.0') continue;
    const name = String(plan.port);
    if (names && !names.has(name)) continue;
    const resource = encoded(request, TypeUrl.RouteConfiguration, `envoy:${name}`, key, () =>
      packAny(route.RouteConfiguration, routeConfiguration(push, proxy, plan, mesh)),
    );
    // The version carries the listener's HTTP filters: a filter change must re-send the per-route configs.
    const filters = outboundHttpFilterNames(
      push,
      proxy,
      plan.http.map((p) => p.service.hostname),
    ).join(',');
    out.push({ name, resource, version: `${contentVersion(resource)}/${filters}` });
  }
  return out;
}

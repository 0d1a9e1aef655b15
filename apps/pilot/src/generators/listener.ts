import {
  configSource,
  fault,
  httpConnectionManager,
  listener,
  packAny,
  rbacFilter,
  router,
} from '@flotilla/proto';
import type { Service } from '@flotilla/registry';
import { TypeUrl } from '@flotilla/xds';
import type { ResourceEntry } from '@flotilla/xds';
import { SERVER_LISTENER_PREFIX, hostPort, sortedNames, splitHostPort } from './model';
import type { Proxy, PushContext } from './model';
import { inboundRbac } from './rbac';
import { encoded } from './types';
import type { GenerateRequest } from './types';

export const ROUTER_FILTER = 'envoy.filters.http.router';
export const FAULT_FILTER = 'envoy.filters.http.fault';
export const RBAC_FILTER = 'envoy.filters.http.rbac';
export const RBAC_DENY_FILTER = 'envoy.filters.http.rbac.DENY';

const ADS_SOURCE = { ads: {}, resourceApiVersion: configSource.ApiVersion.V3 };

/**
 * The HTTP filters of an outbound API listener: the fault filter, then the router, which grpc-js-xds requires last.
 * The fault filter is always there (each route carries its HTTPFault, empty when it injects nothing), so that adding
 * or removing a fault is a route change only: grpc-js-xds ignores a listener update that changes only HTTP filters
 * until the next route update reaches it.
 */
export const OUTBOUND_HTTP_FILTERS: readonly string[] = [FAULT_FILTER, ROUTER_FILTER];

function httpFilter(name: string): httpConnectionManager.HttpFilter {
  const typedConfig =
    name === FAULT_FILTER
      ? packAny(fault.HTTPFault, fault.HTTPFault.fromPartial({}))
      : packAny(router.Router, router.Router.fromPartial({}));
  return httpConnectionManager.HttpFilter.fromPartial({ name, typedConfig });
}

/**
 * The hostnames an outbound listener name ("<host>:<port>", or "<host>") may stand for, most specific first: the
 * host as written, and a short name completed with the proxy's namespace domain ("reviews" →
 * "reviews.<ns>.svc.<suffix>", "reviews.bookinfo" → "reviews.bookinfo.svc.<suffix>", "reviews.bookinfo.svc" →
 * "reviews.bookinfo.svc.<suffix>").
 */
export function listenerHostCandidates(name: string, proxy: Proxy, domainSuffix: string): string[] {
  const parsed = splitHostPort(name);
  if (!parsed) return [];
  const candidates = [parsed.host];
  if (!parsed.host.includes('.')) candidates.push(`${parsed.host}.${proxy.dnsDomain}`);
  else if (parsed.host.split('.').length === 2) candidates.push(`${parsed.host}.svc.${domainSuffix}`);
  else if (parsed.host.endsWith('.svc')) candidates.push(`${parsed.host}.${domainSuffix}`);
  return candidates;
}

/**
 * Which service and ports an outbound listener name ("<host>:<port>", or "<host>") stands for: the hostname as
 * written, or a short name completed with the proxy's namespace domain ("reviews" → "reviews.<ns>.svc.<suffix>",
 * "reviews.bookinfo" → "reviews.bookinfo.svc.<suffix>").
 */
export function resolveListenerName(
  push: PushContext,
  proxy: Proxy,
  name: string,
): { service: Service; ports: number[] } | undefined {
  const parsed = splitHostPort(name);
  if (!parsed) return undefined;
  for (const host of listenerHostCandidates(name, proxy, push.domainSuffix)) {
    const service = push.service(host);
    if (!service) continue;
    if (parsed.port !== undefined) {
      return service.ports.some((p) => p.port === parsed.port)
        ? { service, ports: [parsed.port] }
        : undefined;
    }
    // A name without a port stands for the service's only port.
    return service.ports.length === 1 ? { service, ports: [service.ports[0].port] } : undefined;
  }
  return undefined;
}

function outboundListener(
  request: GenerateRequest,
  name: string,
  service: Service,
  port: number,
): ResourceEntry {
  const { push, proxy } = request;
  const filters = OUTBOUND_HTTP_FILTERS;
  const key = `${push.hostVersion(service.hostname)}|${proxy.namespace}`;
  const resource = encoded(request, TypeUrl.Listener, name, key, () => {
    const hcm = httpConnectionManager.HttpConnectionManager.fromPartial({
      rds: { configSource: ADS_SOURCE, routeConfigName: hostPort(service.hostname, port) },
      httpFilters: filters.map(httpFilter),
    });
    return packAny(
      listener.Listener,
      listener.Listener.fromPartial({
        name,
        address: {
          socketAddress: { address: service.addresses[0] ?? '0.0.0.0', portValue: port },
        },
        apiListener: {
          apiListener: packAny(httpConnectionManager.HttpConnectionManager, hcm),
        },
      }),
    );
  });
  return { name, resource };
}

/** The service instances (service, port, endpoint labels) a server listening on host:port is. */
function instancesAt(push: PushContext, proxy: Proxy, host: string, port: number) {
  const wildcard = host === '0.0.0.0' || host === '::';
  const addresses = new Set(wildcard ? proxy.ips : [host]);
  const out: { service: Service; servicePort: number; labels: Record<string, string> }[] = [];
  for (const service of push.servicesFor(proxy.namespace)) {
    for (const sp of service.ports) {
      for (const ep of push.endpoints(service.hostname, sp.port)) {
        if (ep.port === port && addresses.has(ep.address)) {
          out.push({ service, servicePort: sp.port, labels: ep.labels });
        }
      }
    }
  }
  return out;
}

/**
 * The listener of an xDS-enabled gRPC server (gRFC A36), named "xds.istio.io/grpc/lds/inbound/<ip>:<port>": its
 * address must be the one the server binds, one filter chain with one HttpConnectionManager whose inline route
 * forwards nothing (NonForwardingAction), RBAC filters from the AuthorizationPolicies that select the workload
 * (DENY before ALLOW, as Istio orders them), the router last. Only for an address that is a service instance of
 * the proxy, as in Istio.
 */
function inboundListener(request: GenerateRequest, name: string): ResourceEntry | undefined {
  const { push, proxy } = request;
  const parsed = splitHostPort(name.slice(SERVER_LISTENER_PREFIX.length));
  if (!parsed?.port) return undefined;
  const instances = instancesAt(push, proxy, parsed.host, parsed.port);
  if (instances.length === 0) return undefined;
  const namespace = instances[0].service.namespace;
  const labels = { ...instances[0].labels, ...proxy.labels };
  const policies = push.authorizationPoliciesFor(namespace, labels);
  const filters: httpConnectionManager.HttpFilter[] = [];
  const deny = inboundRbac(policies, 'DENY');
  if (deny) {
    filters.push({
      name: RBAC_DENY_FILTER,
      typedConfig: packAny(rbacFilter.RBAC, rbacFilter.RBAC.fromPartial({ rules: deny })),
    } as httpConnectionManager.HttpFilter);
  }
  const allow = inboundRbac(policies, 'ALLOW');
  if (allow) {
    filters.push({
      name: RBAC_FILTER,
      typedConfig: packAny(rbacFilter.RBAC, rbacFilter.RBAC.fromPartial({ rules: allow })),
    } as httpConnectionManager.HttpFilter);
  }
  filters.push(httpFilter(ROUTER_FILTER));
  const hcm = httpConnectionManager.HttpConnectionManager.fromPartial({
    routeConfig: {
      name: 'inbound',
      virtualHosts: [
        {
          name: 'inbound',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, nonForwardingAction: {} }],
        },
      ],
    },
    httpFilters: filters.map((f) => httpConnectionManager.HttpFilter.fromPartial(f)),
  });
  const resource = packAny(
    listener.Listener,
    listener.Listener.fromPartial({
      name,
      address: { socketAddress: { address: parsed.host, portValue: parsed.port } },
      filterChains: [
        {
          name: 'inbound-plaintext',
          filters: [
            {
              name: 'inbound-hcmplaintext',
              typedConfig: packAny(httpConnectionManager.HttpConnectionManager, hcm),
            },
          ],
        },
      ],
    }),
  );
  return { name, resource };
}

/**
 * LDS for proxyless gRPC: an API listener per requested "<host>:<port>" (all services' ports for a wildcard
 * request), and server listeners for requested "xds.istio.io/grpc/lds/inbound/…" names.
 */
export function buildGrpcListeners(request: GenerateRequest): ResourceEntry[] {
  const { push, proxy, names } = request;
  const out: ResourceEntry[] = [];
  if (!names) {
    for (const service of push.servicesFor(proxy.namespace)) {
      for (const p of service.ports) {
        out.push(outboundListener(request, hostPort(service.hostname, p.port), service, p.port));
      }
    }
    return out;
  }
  for (const name of sortedNames(names)) {
    if (name.startsWith(SERVER_LISTENER_PREFIX)) {
      const inbound = inboundListener(request, name);
      if (inbound) out.push(inbound);
      continue;
    }
    const resolved = resolveListenerName(push, proxy, name);
    if (!resolved) continue;
    out.push(outboundListener(request, name, resolved.service, resolved.ports[0]));
  }
  return out;
}

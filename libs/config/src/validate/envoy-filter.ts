// EnvoyFilter: config patch structure (applyTo, match class, patch operation and value).
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { isSet, list, obj, str } from './common/access';
import type { ResourceContext } from './common/context';
import { re2Error } from './common/regex';
import { checkAlphaWorkloadSelector } from './common/selectors';

const LISTENER_CLASS = new Set(['LISTENER', 'FILTER_CHAIN', 'NETWORK_FILTER', 'HTTP_FILTER']);
const ROUTE_CLASS = new Set(['ROUTE_CONFIGURATION', 'VIRTUAL_HOST', 'HTTP_ROUTE']);
const HCM = new Set(['envoy.filters.network.http_connection_manager', 'envoy.http_connection_manager']);
const DEPRECATED_FILTER_NAMES: Record<string, string> = {
  'envoy.http_connection_manager': 'envoy.filters.network.http_connection_manager',
  'envoy.router': 'envoy.filters.http.router',
  'envoy.cors': 'envoy.filters.http.cors',
  'envoy.fault': 'envoy.filters.http.fault',
  'envoy.lua': 'envoy.filters.http.lua',
  'envoy.tcp_proxy': 'envoy.filters.network.tcp_proxy',
  'envoy.ext_authz': 'envoy.filters.http.ext_authz',
  'envoy.rate_limit': 'envoy.filters.http.ratelimit',
  'envoy.grpc_web': 'envoy.filters.http.grpc_web',
  'envoy.gzip': 'envoy.filters.http.gzip',
};

export const ENVOY_FILTER_WARNING =
  'EnvoyFilter exposes internal implementation details that may change at any time. Prefer other APIs if possible, and exercise extreme caution, especially around upgrades.';

function checkPatch(cp: Obj, issues: Issues): void {
  const match = obj(cp.match);
  if (match && match.context === 'WAYPOINT') return;
  const applyTo = str(cp.applyTo) || 'INVALID';
  if (applyTo === 'INVALID') {
    issues.error('Envoy filter: missing applyTo', 'applyTo');
    return;
  }
  const patch = obj(cp.patch);
  if (!patch) {
    issues.error('Envoy filter: missing patch', 'patch');
    return;
  }
  const op = str(patch.operation) || 'INVALID';
  if (op === 'INVALID') {
    issues.error('Envoy filter: missing patch operation', 'patch', 'operation');
    return;
  }
  if (op !== 'REMOVE' && !isSet(patch.value)) {
    issues.error('Envoy filter: missing patch value for non-remove operation', 'patch', 'value');
    return;
  }
  const proxyVersion = str(obj(match?.proxy)?.proxyVersion);
  if (proxyVersion !== '') {
    if (proxyVersion.length > 1024) {
      issues.warn(
        'Envoy filter: proxyVersion match exceeds 1024 characters and will be ignored',
        'match',
        'proxy',
        'proxyVersion',
      );
    } else {
      const e = re2Error(proxyVersion);
      if (e) {
        issues.error(
          `Envoy filter: invalid regex for proxy version, [${e}]`,
          'match',
          'proxy',
          'proxyVersion',
        );
        return;
      }
    }
  }
  const hasObjectMatch =
    !!match &&
    (isSet(match.listener) ||
      isSet(match.routeConfiguration) ||
      isSet(match.cluster) ||
      isSet(match.waypoint));
  if (LISTENER_CLASS.has(applyTo) && hasObjectMatch) {
    const listener = obj(match!.listener);
    if (!listener) {
      issues.error(
        'Envoy filter: applyTo for listener class objects cannot have non listener match',
        'match',
      );
      return;
    }
    const filter = obj(obj(listener.filterChain)?.filter);
    if (filter) {
      issues.push('match');
      issues.push('listener');
      issues.push('filterChain');
      issues.push('filter');
      try {
        if (applyTo === 'LISTENER' || applyTo === 'FILTER_CHAIN')
          issues.warn(`Envoy filter: filter match has no effect when used with ${applyTo}`);
        const name = str(filter.name);
        if (name === '') {
          issues.error('Envoy filter: filter match has no name to match on', 'name');
          return;
        }
        const sub = obj(filter.subFilter);
        if (sub) {
          if (applyTo !== 'HTTP_FILTER') {
            issues.error(
              'Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only',
              'subFilter',
            );
            return;
          }
          if (!HCM.has(name)) {
            issues.error(
              'Envoy filter: subfilter match requires filter match with envoy.filters.network.http_connection_manager',
              'subFilter',
            );
            return;
          }
          if (str(sub.name) === '') {
            issues.error('Envoy filter: subfilter match has no name to match on', 'subFilter', 'name');
            return;
          }
        }
        for (const n of [name, str(sub?.name)]) {
          const newer = DEPRECATED_FILTER_NAMES[n];
          if (newer) issues.warn(`using deprecated filter name "${n}"; use "${newer}" instead`);
        }
      } finally {
        issues.pop();
        issues.pop();
        issues.pop();
        issues.pop();
      }
    }
  } else if (ROUTE_CLASS.has(applyTo) && hasObjectMatch) {
    if (!isSet(match!.routeConfiguration)) {
      issues.error(
        'Envoy filter: applyTo for http route class objects cannot have non route configuration match',
        'match',
      );
    }
  } else if (applyTo === 'CLUSTER' && hasObjectMatch) {
    if (!isSet(match!.cluster))
      issues.error('Envoy filter: applyTo for cluster class objects cannot have non cluster match', 'match');
  }
  const value = obj(patch.value);
  if (value) checkPatchValue(value, issues);
}

/** Typed config must name its type with `@type`; a v2 type URL is reported the way Istio reports unknown types. */
function checkPatchValue(value: Obj, issues: Issues): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    }
    const o = obj(v);
    if (!o) continue;
    for (const k of ['typed_config', 'typedConfig']) {
      const tc = obj(o[k]);
      if (!tc) continue;
      const type = str(tc['@type']);
      if (type === '') issues.error(`${k} is missing "@type"`, 'patch', 'value');
      else if (type.includes('.v2.') || type.includes('.v2alpha.')) {
        issues.error(`referenced type unknown (hint: try using the v3 XDS API): ${type}`, 'patch', 'value');
      }
    }
    for (const k of Object.keys(o)) if (k !== '@type') stack.push(o[k]);
  }
}

export function validateEnvoyFilter(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  issues.warn(ENVOY_FILTER_WARNING);
  const before = issues.errors.length;
  const empty = checkAlphaWorkloadSelector(spec.workloadSelector, issues, 'workloadSelector');
  if (issues.errors.length > before) return;
  if (empty)
    issues.warn(
      'Envoy filter: workload selector specified without labels, will be applied to all services in namespace',
      'workloadSelector',
    );
  list(spec.configPatches).forEach((c, i) => {
    issues.push('configPatches');
    issues.push(i);
    const cp = obj(c);
    if (!cp) issues.error('Envoy filter: null config patch');
    else checkPatch(cp, issues);
    issues.pop();
    issues.pop();
  });
}

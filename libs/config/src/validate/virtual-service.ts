// VirtualService: Istio's webhook rules for hosts, gateways, HTTP/TLS/TCP routes and unreachable matches.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { isSet, keys, list, num, obj, str, strList } from './common/access';
import type { ResourceContext } from './common/context';
import { checkDuration } from './common/durations';
import {
  checkHeaderOperations,
  checkMatchHeaderName,
  isAuthorityHeader,
  isJwtClaimRoute,
  checkCORSHeaderName,
} from './common/headers';
import { labelProblems } from './common/labels';
import {
  checkFQDN,
  checkGatewayBoundDomain,
  checkWildcardDomain,
  hostSubsetOf,
  hostsMatch,
  isDNS1123Label,
} from './common/names';
import { checkIPSubnet, checkPort, isIPAddress } from './common/net';
import { checkRegex } from './common/regex';
import { checkExportTo } from './common/selectors';

const MESH = 'mesh';
const CORS_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  '*',
]);
const GRPC_STATUS = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);
const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);
/** HTTP status codes with a registered reason phrase (Go's net/http StatusText). */
const HTTP_STATUS_TEXT = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307,
  308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421,
  422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

function err(issues: Issues, e: string | undefined, ...at: (string | number)[]): void {
  if (e) issues.error(e, ...at);
}

/** `mesh`, `namespace/name`, or a legacy FQDN-style gateway name. */
export function checkGatewayNames(names: string[], issues: Issues, field: string): void {
  for (const name of names) {
    const slash = name.indexOf('/');
    if (slash < 0) {
      if (name.includes('.')) {
        const parts = name.split('.');
        issues.warn(
          `using legacy gatewayName format "${name}"; prefer the <namespace>/<name> format: "${parts[1]}/${parts[0]}"`,
          field,
        );
      }
      err(issues, checkFQDN(name), field);
      return;
    }
    const ns = name.slice(0, slash);
    const gw = name.slice(slash + 1);
    if (ns === '' || gw === '') issues.error('config namespace and gateway name cannot be empty', field);
    if (!isDNS1123Label(ns)) issues.error(`invalid value for namespace: "${ns}"`, field);
    if (!isDNS1123Label(gw)) issues.error(`invalid value for gateway name: "${gw}"`, field);
  }
}

function checkStringMatch(sm: unknown, where: string, issues: Issues, field: string): void {
  const m = obj(sm);
  if (!m) return;
  if (typeof m.prefix === 'string' && m.prefix === '' && !isSet(m.exact) && !isSet(m.regex)) {
    issues.error(`"${where}": prefix string match should not be empty`, field);
  }
  checkStringMatchRegex(m, where, issues, field);
}

function checkStringMatchRegex(m: Obj | undefined, where: string, issues: Issues, field: string): void {
  if (!m || typeof m.regex !== 'string') return;
  if (m.regex === '') issues.error(`"${where}": regex string match should not be empty`, field);
  else err(issues, checkRegex(m.regex, where), field);
}

function checkDestination(d: unknown, issues: Issues, field: string): void {
  const dest = obj(d);
  if (!dest) return;
  issues.push(field);
  const host = str(dest.host);
  if (host === '*') issues.error(`invalid destination host ${host}`, 'host');
  else err(issues, checkWildcardDomain(host), 'host');
  if (str(dest.subset) !== '') {
    if (!isDNS1123Label(str(dest.subset)))
      issues.error(`subset name is invalid: ${str(dest.subset)}`, 'subset');
  }
  const port = obj(dest.port);
  if (port) err(issues, checkPort(num(port.number)), 'port', 'number');
  issues.pop();
}

function checkRouteDestinations(routes: readonly unknown[], issues: Issues, http: boolean): void {
  let total = 0;
  routes.forEach((r, i) => {
    issues.push('route');
    issues.push(i);
    const rd = obj(r);
    if (!rd) issues.error('weight may not be nil');
    else {
      if (!isSet(rd.destination)) issues.error('destination is required');
      if (http) checkHeaderOperations(rd.headers, issues);
      checkDestination(rd.destination, issues, 'destination');
      const w = num(rd.weight);
      if (w < 0) issues.error(`weight ${w} < 0`, 'weight');
      total += w;
    }
    issues.pop();
    issues.pop();
  });
  if (routes.length > 1 && total === 0) issues.error('total destination weight = 0', 'route');
}

function checkPercentage(p: unknown, issues: Issues, field: string): void {
  const o = obj(p);
  if (!o) return;
  const v = num(o.value);
  if (v < 0 || v > 100 || (v > 0 && v < 0.0001)) {
    issues.error(`percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`, field);
  }
}

function checkHTTPRoute(route: Obj, delegate: boolean, issues: Issues): void {
  const hasRedirect = isSet(route.redirect);
  const hasDirect = isSet(route.directResponse);
  const routes = list(route.route);
  // conflicts
  if (!delegate && isSet(route.delegate)) {
    if (hasRedirect) issues.error(`root HTTP route ${str(route.name)} must not specify redirect`);
    if (isSet(route.route)) issues.error(`root HTTP route ${str(route.name)} must not specify route`);
  } else {
    if (delegate && isSet(route.delegate)) issues.error('delegate HTTP route cannot contain delegate');
    if (hasRedirect) {
      if (routes.length > 0) issues.error('HTTP route cannot contain both route and redirect');
      if (isSet(route.fault)) issues.error('HTTP route cannot contain both fault and redirect');
      if (isSet(route.rewrite)) issues.error('HTTP route rule cannot contain both rewrite and redirect');
      if (hasDirect) issues.error('HTTP route rule cannot contain both direct_response and redirect');
    } else if (hasDirect) {
      if (routes.length > 0) issues.error('HTTP route cannot contain both route and direct_response');
      if (isSet(route.fault)) issues.error('HTTP route cannot contain both fault and direct_response');
      if (isSet(route.rewrite))
        issues.error('HTTP route rule cannot contain both rewrite and direct_response');
    } else if (routes.length === 0) {
      issues.error('HTTP route, redirect or direct_response is required');
    }
    if (isSet(route.mirror) && list(route.mirrors).length > 0)
      issues.error('HTTP route cannot contain both mirror and mirrors');
  }
  // matches
  list(route.match).forEach((mv, i) => {
    const m = obj(mv);
    if (!m) return;
    issues.push('match');
    issues.push(i);
    for (const [field, where] of [
      ['headers', 'headers'],
      ['withoutHeaders', 'withoutHeaders'],
    ] as const) {
      const hs = obj(m[field]);
      if (!hs) continue;
      for (const name of keys(hs)) {
        if (field === 'headers' && hs[name] === null)
          issues.error(`header match ${name} cannot be null`, field);
        err(issues, checkMatchHeaderName(name), field);
        const hm = obj(hs[name]);
        if (field === 'withoutHeaders' && hm && hm.regex === '*') continue;
        checkStringMatch(hm, where, issues, field);
      }
    }
    checkStringMatchRegex(obj(m.uri), 'uri', issues, 'uri');
    checkStringMatch(m.scheme, 'scheme', issues, 'scheme');
    checkStringMatch(m.method, 'method', issues, 'method');
    checkStringMatch(m.authority, 'authority', issues, 'authority');
    const qp = obj(m.queryParams);
    if (qp) for (const k of keys(qp)) checkStringMatch(qp[k], 'queryParams', issues, 'queryParams');
    if (num(m.port) !== 0) err(issues, checkPort(num(m.port)), 'port');
    for (const p of labelProblems(m.sourceLabels)) issues.error(p, 'sourceLabels');
    checkGatewayNames(strList(m.gateways), issues, 'gateways');
    const sns = str(m.sourceNamespace);
    if (sns !== '' && !isDNS1123Label(sns))
      issues.error(`sourceNamespace match ${sns} is invalid`, 'sourceNamespace');
    issues.pop();
    issues.pop();
  });
  checkHeaderOperations(route.headers, issues);
  // CORS
  const cors = obj(route.corsPolicy);
  if (cors) {
    issues.push('corsPolicy');
    for (const o of list(cors.allowOrigins)) {
      const sm = obj(o);
      const text = sm ? str(sm.exact) || str(sm.prefix) || str(sm.regex) : '';
      if (text === '')
        issues.error(`'${text}' is not a valid match type for CORS allow origins`, 'allowOrigins');
      else checkStringMatchRegex(sm, 'corsPolicy.allowOrigins', issues, 'allowOrigins');
    }
    for (const m of strList(cors.allowMethods))
      if (!CORS_METHODS.has(m)) issues.error(`"${m}" is not a supported HTTP method`, 'allowMethods');
    for (const h of strList(cors.allowHeaders)) err(issues, checkCORSHeaderName(h), 'allowHeaders');
    for (const h of strList(cors.exposeHeaders)) err(issues, checkCORSHeaderName(h), 'exposeHeaders');
    if (isSet(cors.maxAge)) {
      err(issues, checkDuration(cors.maxAge), 'maxAge');
      if (/\.\d*[1-9]/.test(str(cors.maxAge)) || /\d(ms|us|µs|ns)/.test(str(cors.maxAge))) {
        issues.error('max_age duration is accurate only to seconds precision', 'maxAge');
      }
    }
    issues.pop();
  }
  // fault
  const fault = obj(route.fault);
  if (fault) {
    issues.push('fault');
    const abort = obj(fault.abort);
    const delay = obj(fault.delay);
    if (!abort && !delay) issues.error('HTTP fault injection must have an abort and/or a delay');
    if (abort) {
      checkPercentage(abort.percentage, issues, 'abort');
      if (isSet(abort.grpcStatus)) {
        if (!GRPC_STATUS.has(str(abort.grpcStatus))) {
          issues.error(
            `gRPC status "${str(abort.grpcStatus)}" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`,
            'abort',
          );
        }
      } else if (isSet(abort.http2Error))
        issues.error('HTTP/2 abort fault injection not supported yet', 'abort');
      else if (isSet(abort.httpStatus)) {
        const s = num(abort.httpStatus);
        if (s < 200 || s > 600)
          issues.error(`HTTP status ${s} is not in range 200-599`, 'abort', 'httpStatus');
      } else issues.warn('abort configured, but error type not set', 'abort');
    }
    if (delay) {
      checkPercentage(delay.percentage, issues, 'delay');
      if (isSet(delay.fixedDelay)) err(issues, checkDuration(delay.fixedDelay), 'delay', 'fixedDelay');
      else if (isSet(delay.exponentialDelay)) {
        err(issues, checkDuration(delay.exponentialDelay), 'delay', 'exponentialDelay');
        issues.error('exponentialDelay not supported yet', 'delay', 'exponentialDelay');
      }
    }
    issues.pop();
  }
  // mirrors
  const mirrorPercent = route.mirrorPercent ?? route.mirror_percent;
  if (isSet(mirrorPercent)) {
    if (num(mirrorPercent) > 100)
      issues.error(
        `mirror_percent must have a max value of 100 (it has ${num(mirrorPercent)})`,
        'mirrorPercent',
      );
    issues.warn('using deprecated setting "mirrorPercent", use "mirrorPercentage" instead', 'mirrorPercent');
  }
  const mp = obj(route.mirrorPercentage);
  if (mp) {
    const v = num(mp.value);
    if (v > 100)
      issues.error(
        `mirror_percentage must have a max value of 100 (it has ${v.toFixed(6)})`,
        'mirrorPercentage',
      );
    if (v < 0)
      issues.error(
        `mirror_percentage must have a min value of 0 (it has ${v.toFixed(6)})`,
        'mirrorPercentage',
      );
  }
  checkDestination(route.mirror, issues, 'mirror');
  list(route.mirrors).forEach((m, i) => {
    issues.push('mirrors');
    issues.push(i);
    const mo = obj(m);
    if (!mo) issues.error('mirror cannot be null');
    else if (!isSet(mo.destination)) issues.error('destination is required for mirrors');
    else {
      checkDestination(mo.destination, issues, 'destination');
      const pv = obj(mo.percentage);
      if (pv) {
        const v = num(pv.value);
        if (v > 100)
          issues.error(
            `mirror percentage must have a max value of 100 (it has ${v.toFixed(6)})`,
            'percentage',
          );
        if (v < 0)
          issues.error(`mirror percentage must have a min value of 0 (it has ${v.toFixed(6)})`, 'percentage');
      }
    }
    issues.pop();
    issues.pop();
  });
  // redirect
  const redirect = obj(route.redirect);
  if (redirect) {
    issues.push('redirect');
    checkRedirect(redirect, list(route.match), issues);
    issues.pop();
  }
  // direct response
  const direct = obj(route.directResponse);
  if (direct) {
    const body = obj(direct.body);
    const size = body
      ? typeof body.string === 'string'
        ? Buffer.byteLength(body.string)
        : Math.floor((str(body.bytes).length * 3) / 4)
      : 0;
    if (size > 1024 * 1024)
      issues.error(
        'large direct_responses may impact control plane performance, must be less than 1MB',
        'directResponse',
      );
    else if (size > 100 * 1024)
      issues.warn('large direct_responses may impact control plane performance', 'directResponse');
    const s = num(direct.status);
    if (s < 200 || s > 600)
      issues.error(`HTTP status ${s} is not in range 200-599`, 'directResponse', 'status');
  }
  // retries
  const retries = obj(route.retries);
  if (retries) {
    issues.push('retries');
    const attempts = num(retries.attempts);
    if (attempts < 0) issues.error('attempts cannot be negative', 'attempts');
    if (
      attempts === 0 &&
      (isSet(retries.perTryTimeout) || str(retries.retryOn) !== '' || isSet(retries.retryRemoteLocalities))
    ) {
      issues.error('http retry policy configured when attempts are set to 0 (disabled)');
    }
    if (isSet(retries.perTryTimeout)) err(issues, checkDuration(retries.perTryTimeout), 'perTryTimeout');
    if (str(retries.retryOn) !== '') {
      for (const policy of str(retries.retryOn).split(',')) {
        const code = /^[+-]?\d+$/.test(policy) ? Number(policy) : 0;
        if (!HTTP_STATUS_TEXT.has(code) && !RETRY_ON.has(policy))
          issues.error(`"${policy}" is not a valid retryOn policy`, 'retryOn');
      }
    }
    if (isSet(retries.backoff)) err(issues, checkDuration(retries.backoff), 'backoff');
    issues.pop();
  }
  // rewrite
  const rewrite = obj(route.rewrite);
  if (rewrite) {
    issues.push('rewrite');
    const rr = obj(rewrite.uriRegexRewrite);
    if (str(rewrite.uri) !== '' && rr) issues.error('rewrite may only contain one of URI or UriRegexRewrite');
    else if (str(rewrite.uri) === '' && !rr && str(rewrite.authority) === '') {
      issues.error(
        'rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified',
      );
    } else if (rr) {
      if (str(rr.match) === '' || str(rr.rewrite) === '') {
        issues.error(
          'UriRegexRewrite has errors\nUriRegexRewrite requires both Rewrite and Match fields to be specified',
          'uriRegexRewrite',
        );
      } else {
        const e = checkRegex(str(rr.match), 'HTTPRewrite.UriRegexRewrite.Match');
        if (e) issues.error(`UriRegexRewrite has errors\n${e}`, 'uriRegexRewrite', 'match');
      }
    }
    issues.pop();
  }
  // authority rewrite conflicts
  let current = str(rewrite?.authority);
  const reqHeaders = obj(obj(route.headers)?.request);
  for (const op of ['set', 'add'] as const) {
    const m = obj(reqHeaders?.[op]);
    if (!m) continue;
    for (const k of keys(m)) {
      if (!isAuthorityHeader(k)) continue;
      if (current !== '') {
        issues.error(
          `authority header cannot be set multiple times: have "${current}", attempting to set "${str(m[k])}"`,
          'headers',
        );
        break;
      }
      current = str(m[k]);
    }
  }
  checkRouteDestinations(routes, issues, true);
  if (isSet(route.timeout)) err(issues, checkDuration(route.timeout), 'timeout');
}

function checkRedirect(r: Obj, matches: readonly unknown[], issues: Issues): void {
  if (str(r.uri) !== '' && str(r.prefixRewrite) !== '') {
    issues.error('redirect may only specify one of uri or prefix_rewrite');
    return;
  }
  if (str(r.prefixRewrite) !== '') {
    for (const m of matches) {
      const uri = obj(obj(m)?.uri);
      if (uri && !isSet(uri.prefix)) {
        issues.error('redirect prefix_rewrite requires all URI matches to use prefix match type');
        return;
      }
    }
  }
  if (
    str(r.uri) === '' &&
    str(r.prefixRewrite) === '' &&
    str(r.authority) === '' &&
    !isSet(r.port) &&
    !isSet(r.derivePort) &&
    str(r.scheme) === ''
  ) {
    issues.error('redirect must specify URI, authority, scheme, or port');
    return;
  }
  const code = num(r.redirectCode);
  if (code !== 0 && (code < 300 || code > 399)) {
    issues.error(`${code} is not a valid redirect code, must be 3xx`, 'redirectCode');
    return;
  }
  const scheme = str(r.scheme);
  if (scheme !== '' && scheme !== 'http' && scheme !== 'https') {
    issues.error('invalid redirect scheme, must be "http" or "https"', 'scheme');
    return;
  }
  if (num(r.port) > 0) err(issues, checkPort(num(r.port)), 'port');
}

function checkSniHost(sni: string, spec: Obj, boundToGateway: boolean, issues: Issues): void {
  const e = boundToGateway ? checkGatewayBoundDomain(true, sni) : checkWildcardDomain(sni);
  if (e) {
    if (isIPAddress(sni))
      issues.warn(
        `using an IP address ("${sni}") goes against SNI spec and most clients do not support this`,
      );
    else issues.error(e);
    return;
  }
  const hosts = strList(spec.hosts);
  if (hosts.some((h) => hostSubsetOf(sni, h))) return;
  issues.error(
    `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`,
  );
}

function checkL4Match(m: Obj, issues: Issues): void {
  for (const s of strList(m.destinationSubnets)) err(issues, checkIPSubnet(s), 'destinationSubnets');
  if (num(m.port) !== 0) err(issues, checkPort(num(m.port)), 'port');
  for (const p of labelProblems(m.sourceLabels)) issues.error(p, 'sourceLabels');
  checkGatewayNames(strList(m.gateways), issues, 'gateways');
}

/** Canonical text of a match for duplicate detection (the match name does not matter). */
function matchKey(m: unknown): string {
  const o = obj(m);
  if (!o) return JSON.stringify(m);
  const copy: Obj = {};
  for (const k of Object.keys(o).sort()) if (k !== 'name') copy[k] = o[k];
  return JSON.stringify(copy);
}

const routeName = (r: Obj | undefined, i: number, http: boolean): string =>
  http && r && str(r.name) !== '' ? `"${str(r.name)}"` : `#${i}`;
const requestName = (m: Obj | undefined, i: number, http: boolean): string =>
  http && m && str(m.name) !== '' ? `"${str(m.name)}"` : `#${i}`;

interface PrefixMatch {
  route: string;
  match: string;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  query: Map<string, string>;
  without: Map<string, string>;
}

const exactOrPrefix = (sm: unknown): string => {
  const o = obj(sm);
  if (!o) return '';
  if (str(o.exact) !== '') return `exact:${str(o.exact)}`;
  if (str(o.prefix) !== '') return `prefix:${str(o.prefix)}`;
  return '';
};

function prefixMatchOf(route: Obj, m: Obj, rulen: number, matchn: number): PrefixMatch | undefined {
  const uri = obj(m.uri);
  if (!uri || str(uri.prefix) === '') return undefined;
  const toMap = (v: unknown): Map<string, string> =>
    new Map(keys(v).map((k) => [k, exactOrPrefix(obj(v)?.[k])]));
  return {
    route: routeName(route, rulen, true),
    match: requestName(m, matchn, true),
    prefix: str(uri.prefix),
    port: num(m.port),
    method: exactOrPrefix(m.method) || 'exact:GET',
    authority: exactOrPrefix(m.authority),
    headers: toMap(m.headers),
    query: toMap(m.queryParams),
    without: toMap(m.withoutHeaders),
  };
}

function mapCovered(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const bv = b.get(k);
    if (bv === undefined) return false;
    if (v !== bv && !v.startsWith(bv)) return false;
  }
  return true;
}

function covered(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix)) return false;
  if (a.port !== b.port) return false;
  if (a.method !== b.method && !a.method.startsWith(b.method)) return false;
  if (a.authority !== b.authority && !a.authority.startsWith(b.authority)) return false;
  return mapCovered(a.headers, b.headers) && mapCovered(a.query, b.query) && mapCovered(a.without, b.without);
}

/** Istio's VirtualServiceUnreachableRule / VirtualServiceIneffectiveMatch findings, reported as warnings. */
export interface RouteFinding {
  readonly type: 'VirtualServiceUnreachableRule' | 'VirtualServiceIneffectiveMatch';
  readonly field: 'http' | 'tcp' | 'tls';
  readonly message: string;
}

export function unreachableRules(spec: Obj): RouteFinding[] {
  const out: RouteFinding[] = [];
  for (const field of ['http', 'tcp', 'tls'] as const) {
    const http = field === 'http';
    const routes = list(spec[field]);
    const seen = new Map<string, number>();
    let emptyAt = -1;
    const prefixes: PrefixMatch[] = [];
    const unused = (rn: string, reason: string): void => {
      out.push({
        type: 'VirtualServiceUnreachableRule',
        field,
        message: `virtualService rule ${rn} not used (${reason})`,
      });
    };
    const ineffective = (rn: string, mn: string, dn: string): void => {
      out.push({
        type: 'VirtualServiceIneffectiveMatch',
        field,
        message: `virtualService rule ${rn} match ${mn} is not used (duplicate/overlapping match in rule ${dn})`,
      });
    };
    // Duplicate and overlapping matches need at least two matches in the field; most VirtualServices have fewer,
    // and building the comparison keys is the costly part of this check.
    let matchCount = 0;
    for (const rv of routes) matchCount += list(obj(rv)?.match).length;
    const compare = matchCount > 1;
    routes.forEach((rv, rulen) => {
      const route = obj(rv);
      if (!route) return;
      const matches = list(route.match);
      if (matches.length === 0) {
        if (emptyAt >= 0) unused(routeName(route, rulen, http), 'only the last rule can have no matches');
        emptyAt = rulen;
        return;
      }
      let dups = 0;
      matches.forEach((mv, matchn) => {
        if (emptyAt >= 0) {
          unused(routeName(route, rulen, http), 'route without matches defined before');
          return;
        }
        if (!compare) return;
        const key = matchKey(mv);
        const dupn = seen.get(key);
        if (dupn !== undefined) {
          ineffective(
            routeName(route, rulen, http),
            requestName(obj(mv), matchn, http),
            routeName(obj(routes[dupn]), dupn, http),
          );
          dups++;
          return;
        }
        seen.set(key, rulen);
        if (http && obj(mv)) {
          const pm = prefixMatchOf(route, obj(mv)!, rulen, matchn);
          if (pm) prefixes.push(pm);
        }
      });
      if (dups === matches.length) unused(routeName(route, rulen, http), 'all matches used by prior rules');
    });
    for (let i = 0; i < prefixes.length; i++) {
      for (let j = i + 1; j < prefixes.length; j++) {
        if (prefixes[j].prefix === prefixes[i].prefix) continue;
        if (covered(prefixes[i], prefixes[j])) {
          ineffective(
            prefixes[j].route,
            `${prefixes[j].match} of prefix ${prefixes[j].prefix}`,
            `${prefixes[i].match} of prefix ${prefixes[i].prefix} on ${prefixes[i].route}`,
          );
        }
      }
    }
  }
  return out;
}

export function validateVirtualService(spec: Obj, ctx: ResourceContext, issues: Issues): void {
  const hosts = strList(spec.hosts);
  const gateways = strList(spec.gateways);
  if (hosts.length === 0) {
    if (gateways.length !== 0)
      issues.error('delegate virtual service must have no gateways specified', 'gateways');
    if (list(spec.tls).length !== 0)
      issues.error('delegate virtual service must have no tls route specified', 'tls');
    if (list(spec.tcp).length !== 0)
      issues.error('delegate virtual service must have no tcp route specified', 'tcp');
  }
  let appliesToMesh = true;
  let appliesToGateway = false;
  if (gateways.length > 0) {
    checkGatewayNames(gateways, issues, 'gateways');
    appliesToGateway = !gateways.includes(MESH);
    appliesToMesh = !appliesToGateway;
  }
  if (!appliesToGateway) {
    list(spec.http).forEach((r, i) => {
      list(obj(r)?.match).forEach((m, j) => {
        for (const f of ['headers', 'withoutHeaders']) {
          for (const key of keys(obj(m)?.[f])) {
            if (isJwtClaimRoute(key)) {
              issues.error(
                `JWT claim based routing (key: ${key}) is only supported for gateway, found no gateways: [${gateways.join(' ')}]`,
                'http',
                i,
                'match',
                j,
                f,
              );
            }
          }
        }
      });
    });
  }
  const sni = list(spec.tls).some((t) =>
    list(obj(t)?.match).some((m) => strList(obj(m)?.sniHosts).length > 0),
  );
  let allValid = true;
  hosts.forEach((h, i) => {
    const e = appliesToGateway ? checkGatewayBoundDomain(sni, h) : checkWildcardDomain(h);
    if (e) {
      if (!isIPAddress(h)) {
        issues.error(e, 'hosts', i);
        allValid = false;
      }
    } else if (appliesToMesh && h === '*') {
      issues.error(
        'wildcard host * is not allowed for virtual services bound to the mesh gateway',
        'hosts',
        i,
      );
      allValid = false;
    }
  });
  if (allValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostsMatch(hosts[i], hosts[j]))
          issues.error(`duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`, 'hosts', j);
      }
    }
  }
  if (list(spec.http).length === 0 && list(spec.tcp).length === 0 && list(spec.tls).length === 0) {
    issues.error('http, tcp or tls must be provided in virtual service');
  }
  list(spec.http).forEach((r, i) => {
    issues.push('http');
    issues.push(i);
    const route = obj(r);
    if (!route) issues.error('http route may not be null');
    else checkHTTPRoute(route, hosts.length === 0, issues);
    issues.pop();
    issues.pop();
  });
  list(spec.tls).forEach((r, i) => {
    const route = obj(r);
    if (!route) return;
    issues.push('tls');
    issues.push(i);
    const matches = list(route.match);
    if (matches.length === 0) issues.error('TLS route must have at least one match condition', 'match');
    matches.forEach((mv, j) => {
      issues.push('match');
      issues.push(j);
      const m = obj(mv);
      if (!m) issues.error('TLS match may not be null');
      else {
        const snis = strList(m.sniHosts);
        if (snis.length === 0) issues.error('TLS match must have at least one SNI host', 'sniHosts');
        snis.forEach((s, k) => {
          issues.push('sniHosts');
          issues.push(k);
          checkSniHost(s, spec, appliesToGateway, issues);
          issues.pop();
          issues.pop();
        });
        checkL4Match(m, issues);
      }
      issues.pop();
      issues.pop();
    });
    if (list(route.route).length === 0) issues.error('TLS route is required', 'route');
    checkRouteDestinations(list(route.route), issues, false);
    issues.pop();
    issues.pop();
  });
  list(spec.tcp).forEach((r, i) => {
    const route = obj(r);
    if (!route) return;
    issues.push('tcp');
    issues.push(i);
    list(route.match).forEach((mv, j) => {
      const m = obj(mv);
      if (!m) issues.error('tcp match may not be nil', 'match', j);
      else {
        issues.push('match');
        issues.push(j);
        checkL4Match(m, issues);
        issues.pop();
        issues.pop();
      }
    });
    if (list(route.route).length === 0) issues.error('TCP route is required', 'route');
    checkRouteDestinations(list(route.route), issues, false);
    issues.pop();
    issues.pop();
  });
  checkExportTo(ctx.namespace, spec.exportTo, issues, false);
  for (const f of unreachableRules(spec)) issues.warn(f.message, f.field);
}

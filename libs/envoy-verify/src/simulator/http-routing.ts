import type { route, routeComponents } from '@flotilla/proto';
import { RE2JS } from 're2js';

/** An HTTP request as the router sees it. Header names are matched case-insensitively. */
export interface HttpRequest {
  /** :authority (Host). */
  authority: string;
  /** :path, with the query string if any. */
  path: string;
  method: string;
  scheme: string;
  headers: Record<string, string>;
}

interface StringMatcherLike {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safeRegex?: { regex: string };
  ignoreCase?: boolean;
}

const regexes = new Map<string, RE2JS>();
function fullMatch(regex: string, value: string): boolean {
  let compiled = regexes.get(regex);
  if (!compiled) regexes.set(regex, (compiled = RE2JS.compile(regex)));
  return compiled.matcher(value).matches();
}

/** envoy.type.matcher.v3.StringMatcher; regexes must match the whole value (Envoy's safe_regex). */
export function stringMatches(m: StringMatcherLike, raw: string): boolean {
  if (m.safeRegex) return fullMatch(m.safeRegex.regex, raw);
  const value = m.ignoreCase ? raw.toLowerCase() : raw;
  const want = (s: string) => (m.ignoreCase ? s.toLowerCase() : s);
  if (m.exact !== undefined) return value === want(m.exact);
  if (m.prefix !== undefined) return value.startsWith(want(m.prefix));
  if (m.suffix !== undefined) return value.endsWith(want(m.suffix));
  if (m.contains !== undefined) return value.includes(want(m.contains));
  return false;
}

/** A domain's rank for a host: exact > longest "*suffix" > longest "prefix*" > "*"; -1 when it does not match. */
function domainRank(domain: string, host: string): number {
  const d = domain.toLowerCase();
  if (d === '*') return 0;
  if (d === host) return 3e6;
  // A wildcard stands for at least one character ("*-bar.foo.com" does not match "-bar.foo.com").
  if (d.startsWith('*')) {
    const suffix = d.slice(1);
    return host.length > suffix.length && host.endsWith(suffix) ? 2e6 + suffix.length : -1;
  }
  if (d.endsWith('*')) {
    const prefix = d.slice(0, -1);
    return host.length > prefix.length && host.startsWith(prefix) ? 1e6 + prefix.length : -1;
  }
  return -1;
}

/** Strips ":port" from a host (not from a bare IPv6 address). */
export function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(0, end + 1) : host;
  }
  const colon = host.lastIndexOf(':');
  return colon > 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

/** Envoy's virtual host selection (RouteMatcher::findVirtualHost) on the lower-cased :authority. */
export function selectVirtualHost(
  rc: route.RouteConfiguration,
  authority: string,
): routeComponents.VirtualHost | undefined {
  const host = (rc.ignorePortInHostMatching ? hostWithoutPort(authority) : authority).toLowerCase();
  let best: routeComponents.VirtualHost | undefined;
  let bestRank = -1;
  for (const vh of rc.virtualHosts) {
    for (const d of vh.domains) {
      const rank = domainRank(d, host);
      if (rank > bestRank) {
        best = vh;
        bestRank = rank;
      }
    }
  }
  return best;
}

function headerValue(req: HttpRequest, name: string): string | undefined {
  const lower = name.toLowerCase();
  switch (lower) {
    case ':authority':
    case 'host':
      return req.authority;
    case ':path':
      return req.path;
    case ':method':
      return req.method;
    case ':scheme':
      return req.scheme;
  }
  for (const [k, v] of Object.entries(req.headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** envoy.config.route.v3.HeaderMatcher, following Envoy's HeaderUtility::matchHeaders. */
export function headerMatches(m: routeComponents.HeaderMatcher, req: HttpRequest): boolean {
  let value = headerValue(req, m.name);
  if (value === undefined) {
    if (!m.treatMissingHeaderAsEmpty) {
      // A missing header matches only "present_match: false", or an inverted "present_match: true".
      if (m.presentMatch === undefined) return false;
      return m.invertMatch ? m.presentMatch : !m.presentMatch;
    }
    value = '';
  }
  let matched: boolean;
  if (m.presentMatch !== undefined) matched = m.presentMatch;
  else if (m.exactMatch !== undefined) matched = value === m.exactMatch;
  else if (m.safeRegexMatch) matched = fullMatch(m.safeRegexMatch.regex, value);
  else if (m.rangeMatch) {
    const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
    matched = n >= Number(m.rangeMatch.start) && n < Number(m.rangeMatch.end);
  } else if (m.prefixMatch !== undefined) matched = value.startsWith(m.prefixMatch);
  else if (m.suffixMatch !== undefined) matched = value.endsWith(m.suffixMatch);
  else if (m.containsMatch !== undefined) matched = value.includes(m.containsMatch);
  else if (m.stringMatch) matched = stringMatches(m.stringMatch, value);
  // No match specifier: the header only has to be present.
  else matched = true;
  return m.invertMatch ? !matched : matched;
}

function queryParams(path: string): Map<string, string> {
  const q = path.indexOf('?');
  const params = new Map<string, string>();
  if (q < 0) return params;
  for (const [k, v] of new URLSearchParams(path.slice(q + 1).split('#')[0])) {
    if (!params.has(k)) params.set(k, v);
  }
  return params;
}

function pathOnly(path: string): string {
  const end = path.search(/[?#]/);
  return end < 0 ? path : path.slice(0, end);
}

/** Why a route does not match, or undefined when it does. */
export function routeMismatch(match: routeComponents.RouteMatch, req: HttpRequest): string | undefined {
  const caseSensitive = match.caseSensitive ?? true;
  const fold = (s: string) => (caseSensitive ? s : s.toLowerCase());
  const path = pathOnly(req.path);
  if (match.prefix !== undefined) {
    // prefix is matched against the whole :path, query string included.
    if (!fold(req.path).startsWith(fold(match.prefix))) return `path does not start with ${match.prefix}`;
  } else if (match.path !== undefined) {
    if (fold(path) !== fold(match.path)) return `path is not ${match.path}`;
  } else if (match.safeRegex) {
    if (!fullMatch(match.safeRegex.regex, path)) return `path does not match ${match.safeRegex.regex}`;
  } else if (match.pathSeparatedPrefix !== undefined) {
    const p = fold(match.pathSeparatedPrefix);
    const f = fold(path);
    if (f !== p && !f.startsWith(`${p}/`)) return `path is not ${match.pathSeparatedPrefix} or below it`;
  } else if (match.connectMatcher) {
    if (req.method !== 'CONNECT') return 'not a CONNECT request';
  } else {
    return 'route has a path match this simulator does not evaluate (path_match_policy)';
  }
  for (const h of match.headers) if (!headerMatches(h, req)) return `header ${h.name} does not match`;
  const params = queryParams(req.path);
  for (const q of match.queryParameters) {
    const value = params.get(q.name);
    if (value === undefined) return `query parameter ${q.name} is missing`;
    if (q.stringMatch && !stringMatches(q.stringMatch, value))
      return `query parameter ${q.name} does not match`;
  }
  if (match.grpc && !(headerValue(req, 'content-type') ?? '').startsWith('application/grpc')) {
    return 'not a gRPC request';
  }
  return undefined;
}

/** The first route of the virtual host whose match the request satisfies (Envoy evaluates routes in order). */
export function selectRoute(
  vh: routeComponents.VirtualHost,
  req: HttpRequest,
): { route: routeComponents.Route; index: number } | undefined {
  for (const [index, r] of vh.routes.entries()) {
    if (r.match && routeMismatch(r.match, req) === undefined) return { route: r, index };
  }
  return undefined;
}

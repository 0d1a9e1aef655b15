// DestinationRule traffic policies (also used by Sidecar for connection pools).
import type { Issues } from '../../issues';
import type { Obj } from '../../schema/types';
import { bool, isSet, keys, list, num, obj, str, strList, wrapped } from './access';
import { checkDuration, parseDuration } from './durations';
import { checkFQDN } from './names';
import { checkIPAddress, checkPort } from './net';

function duration(o: Obj, field: string, issues: Issues): void {
  if (!isSet(o[field])) return;
  const e = checkDuration(o[field]);
  if (e) issues.error(e, field);
}

export function checkConnectionPool(pool: unknown, issues: Issues): void {
  const cp = obj(pool);
  if (!cp) return;
  const http = obj(cp.http);
  const tcp = obj(cp.tcp);
  if (!http && !tcp) {
    issues.error('connection pool must have at least one field');
    return;
  }
  if (http) {
    issues.push('http');
    const neg: [string, string][] = [
      ['http1MaxPendingRequests', 'http1 max pending requests must be non-negative'],
      ['http2MaxRequests', 'http2 max requests must be non-negative'],
      ['maxRequestsPerConnection', 'max requests per connection must be non-negative'],
      ['maxRetries', 'max retries must be non-negative'],
      ['maxConcurrentStreams', 'max concurrent streams must be non-negative'],
    ];
    for (const [f, m] of neg) if (num(http[f]) < 0) issues.error(m, f);
    duration(http, 'idleTimeout', issues);
    if (http.h2UpgradePolicy === 'UPGRADE' && bool(http.useClientProtocol)) {
      issues.error('use client protocol must not be true when H2UpgradePolicy is UPGRADE');
    }
    const ka = obj(http.http2KeepAlive);
    if (ka) {
      issues.push('http2KeepAlive');
      if (!isSet(ka.interval)) issues.error('http2 keepalive interval is required');
      else duration(ka, 'interval', issues);
      if (!isSet(ka.timeout)) issues.error('http2 keepalive timeout is required');
      else duration(ka, 'timeout', issues);
      issues.pop();
    }
    issues.pop();
  }
  if (tcp) {
    issues.push('tcp');
    if (num(tcp.maxConnections) < 0) issues.error('max connections must be non-negative', 'maxConnections');
    duration(tcp, 'connectTimeout', issues);
    duration(tcp, 'maxConnectionDuration', issues);
    if (typeof tcp.idleTimeout === 'string' && parseDuration(tcp.idleTimeout) !== 0)
      duration(tcp, 'idleTimeout', issues);
    const ka = obj(tcp.tcpKeepalive);
    if (ka) {
      issues.push('tcpKeepalive');
      duration(ka, 'time', issues);
      duration(ka, 'interval', issues);
      issues.pop();
    }
    issues.pop();
  }
}

function checkPercent(o: Obj, field: string, issues: Issues): void {
  const v = num(o[field]);
  if (v < 0 || v > 100) issues.error(`percentage ${v} is not in range 0..100`, field);
}

function checkOutlierDetection(od: Obj, issues: Issues): void {
  issues.push('outlierDetection');
  duration(od, 'baseEjectionTime', issues);
  if (num(od.consecutiveErrors) !== 0) {
    issues.warn(
      'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead',
      'consecutiveErrors',
    );
  }
  if (!bool(od.splitExternalLocalOriginErrors) && (wrapped(od.consecutiveLocalOriginFailures) ?? 0) > 0) {
    issues.error(
      'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false',
    );
  }
  duration(od, 'interval', issues);
  checkPercent(od, 'maxEjectionPercent', issues);
  checkPercent(od, 'minHealthPercent', issues);
  issues.pop();
}

function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true;
  if (x % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(x));
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false;
  return true;
}

function checkLocalities(localities: string[]): string | undefined {
  const tree = new Map<string, Map<string, Set<string>>>();
  for (const loc of localities) {
    const stars = loc.split('*').length - 1;
    if (stars > 0 && (stars > 1 || !loc.endsWith('*'))) {
      return `locality ${loc} wildcard '*' number can not exceed 1 and must be in the end`;
    }
    if (tree.has('*')) return `locality ${loc} overlap with previous specified ones`;
    const items = loc.split('/');
    const parts = items.length > 3 ? [items[0], items[1], items.slice(2).join('/')] : items;
    if (parts.some((p) => p === '')) return `locality ${loc} must not contain empty region/zone/subzone info`;
    const [region, zone, sub] = parts;
    const overlap = `locality ${loc} overlap with previous specified ones`;
    if (parts.length === 1) {
      if (tree.has(region)) return overlap;
      tree.set(region, new Map([['*', new Set(['*'])]]));
    } else if (parts.length === 2) {
      const r = tree.get(region);
      if (r) {
        if (r.has('*') || r.has(zone)) return overlap;
        r.set(zone, new Set(['*']));
      } else tree.set(region, new Map([[zone, new Set(['*'])]]));
    } else {
      const r = tree.get(region);
      if (r) {
        if (r.has('*')) return overlap;
        const z = r.get(zone);
        if (z) {
          if (z.has('*') || z.has(sub)) return overlap;
          z.add(sub);
        } else r.set(zone, new Set([sub]));
      } else tree.set(region, new Map([[zone, new Set([sub])]]));
    }
  }
  return undefined;
}

const TOPOLOGY = new Set([
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
  'topology.istio.io/subzone',
]);

function checkLocalityLb(lb: Obj, outlierSet: boolean, issues: Issues): void {
  issues.push('localityLbSetting');
  const distribute = list(lb.distribute).map((d) => obj(d) ?? {});
  const failover = list(lb.failover).map((d) => obj(d) ?? {});
  const priority = strList(lb.failoverPriority);
  try {
    if (distribute.length > 0 && failover.length > 0) {
      issues.error("can not simultaneously specify 'distribute' and 'failover'");
      return;
    }
    if (failover.length > 0) {
      for (const p of priority) {
        if (TOPOLOGY.has(p)) {
          issues.error(
            `can not simultaneously set 'failover' and topology label '${p}' in 'failover_priority'`,
          );
          return;
        }
      }
    }
    const sources: string[] = [];
    for (const d of distribute) {
      sources.push(str(d.from));
      let total = 0;
      const to = obj(d.to) ?? {};
      for (const k of keys(to)) {
        const w = num(to[k]);
        if (w <= 0 || w > 100) {
          issues.error('locality weight must be in range [1, 100]');
          return;
        }
        total += w;
      }
      if (total !== 100) {
        issues.error(`total locality weight ${total} != 100`);
        return;
      }
      const e = checkLocalities(keys(to));
      if (e) issues.error(e);
    }
    const e = checkLocalities(sources);
    if (e) issues.error(e);
    if ((failover.length > 0 || priority.length > 0) && !outlierSet) {
      issues.warn('outlier detection policy must be provided for failover');
    }
    for (const f of failover) {
      const from = str(f.from);
      const to = str(f.to);
      if (from === to) issues.error('locality lb failover settings must specify different regions');
      if (from.includes('/') || to.includes('/')) issues.error('locality lb failover only specify region');
      if (from.includes('*') || to.includes('*'))
        issues.error("locality lb failover region should not contain '*' wildcard");
    }
  } finally {
    issues.pop();
  }
}

function checkLoadBalancer(lb: Obj, outlierSet: boolean, issues: Issues): void {
  issues.push('loadBalancer');
  const ch = obj(lb.consistentHash);
  if (ch) {
    issues.push('consistentHash');
    const cookie = obj(ch.httpCookie);
    if (cookie) {
      if (str(cookie.name) === '') issues.error('name required for HttpCookie', 'httpCookie');
      const names = new Set<string>();
      for (const a of list(cookie.attributes)) {
        const n = str(obj(a)?.name);
        if (n === '') issues.error('cookie attribute name cannot be empty', 'httpCookie');
        else if (names.has(n)) issues.error(`duplicate cookie attribute name: ${n}`, 'httpCookie');
        else names.add(n);
      }
    }
    if (num(ch.minimumRingSize) !== 0) {
      issues.warn(
        "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
      );
      if (isSet(ch.ringHash) || isSet(ch.maglev))
        issues.error('only one of MinimumRingSize or Maglev/Ringhash can be specified');
    }
    const maglev = obj(ch.maglev);
    if (maglev) {
      const size = num(maglev.tableSize);
      if (size === 0) issues.error('tableSize must be set for maglev', 'maglev');
      if (size >= 5000011) issues.error('tableSize must be less than 5000011 for maglev', 'maglev');
      if (!isPrime(size)) issues.error('tableSize must be a prime number for maglev', 'maglev');
    }
    issues.pop();
  }
  const locality = obj(lb.localityLbSetting);
  const zone = obj(lb.zoneAwareLbSetting);
  if (locality && zone) issues.error('only one of localityLbSetting and zoneAwareLbSetting can be set');
  if (locality) checkLocalityLb(locality, outlierSet, issues);
  if (zone) {
    issues.push('zoneAwareLbSetting');
    for (const p of strList(zone.failoverPriority)) {
      if (TOPOLOGY.has(p)) {
        issues.error(
          `'failover_priority' for zone aware lb must not use topology label '${p}'; region- and zone-level routing are handled automatically`,
        );
      }
    }
    issues.pop();
  }
  const warm = obj(lb.warmup);
  if (warm) {
    issues.push('warmup');
    if (!isSet(warm.duration)) issues.error('duration is required');
    else duration(warm, 'duration', issues);
    if ((wrapped(warm.minimumPercent) ?? 0) > 100)
      issues.error('minimumPercent value should be less than or equal to 100');
    if (typeof warm.aggression === 'number' && warm.aggression <= 0)
      issues.error('aggression should be greater than 0');
    issues.pop();
  }
  issues.pop();
}

/** ClientTLSSettings of a traffic policy. */
export function checkClientTLS(tls: Obj, namespace: string, issues: Issues): void {
  issues.push('tls');
  const mode = str(tls.mode) || 'DISABLE';
  const credentialName = str(tls.credentialName);
  if (credentialName.startsWith('configmap://')) {
    const rest = credentialName.slice('configmap://'.length);
    const parts = rest.split('/');
    const ns = parts.length === 2 ? parts[0] : namespace;
    if (rest === '' || parts.length > 2 || parts.some((p) => p === '')) {
      issues.error(`invalid configmap:// credentialName: invalid resource name "${credentialName}"`);
    } else if (ns !== namespace || namespace === '') {
      issues.error(
        `invalid configmap:// credentialName: namespace must match the configuration namespace "${namespace}"`,
      );
    }
  }
  const hasSANs = Array.isArray(tls.subjectAltNames);
  if (tls.insecureSkipVerify === true) {
    if (mode === 'SIMPLE' && (str(tls.caCertificates) !== '' || credentialName !== '' || hasSANs)) {
      issues.error(
        'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true',
      );
    }
    if (mode === 'MUTUAL' && (str(tls.caCertificates) !== '' || hasSANs)) {
      issues.error('cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true');
    }
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && credentialName !== '') {
    if (str(tls.clientCertificate) || str(tls.caCertificates) || str(tls.privateKey) || str(tls.caCrl)) {
      issues.error('cannot specify client certificates or CA certificate or CA CRL If credentialName is set');
    }
  } else if (mode === 'MUTUAL') {
    if (str(tls.clientCertificate) === '') issues.error('client certificate required for mutual tls');
    if (str(tls.privateKey) === '') issues.error('private key required for mutual tls');
  }
  issues.pop();
}

const POLICY_FIELDS = [
  'outlierDetection',
  'connectionPool',
  'loadBalancer',
  'tls',
  'portLevelSettings',
  'tunnel',
  'proxyProtocol',
  'retryBudget',
];

export function checkTrafficPolicy(
  policy: unknown,
  namespace: string,
  issues: Issues,
  field = 'trafficPolicy',
): void {
  const tp = obj(policy);
  if (!tp) return;
  issues.push(field);
  try {
    if (!POLICY_FIELDS.some((f) => isSet(tp[f]))) {
      issues.error('traffic policy must have at least one field');
      return;
    }
    if (isSet(tp.tunnel) && isSet(tp.proxyProtocol)) {
      issues.error('tunnel and proxyProtocol must not be set together');
      return;
    }
    checkPolicyParts(tp, namespace, issues);
    list(tp.portLevelSettings).forEach((p, i) => {
      issues.push('portLevelSettings');
      issues.push(i);
      const pl = obj(p);
      if (!pl) issues.error('traffic policy may not be null');
      else {
        if (!isSet(pl.port)) issues.error('portTrafficPolicy must have valid port');
        if (!['outlierDetection', 'connectionPool', 'loadBalancer', 'tls'].some((f) => isSet(pl[f]))) {
          issues.error('port traffic policy must have at least one field');
        } else checkPolicyParts(pl, namespace, issues);
      }
      issues.pop();
      issues.pop();
    });
    const tunnel = obj(tp.tunnel);
    if (tunnel) {
      issues.push('tunnel');
      const proto = str(tunnel.protocol);
      if (proto !== '' && proto !== 'CONNECT' && proto !== 'POST')
        issues.error('tunnel protocol must be "CONNECT" or "POST"');
      const host = str(tunnel.targetHost);
      const fe = checkFQDN(host);
      const ie = checkIPAddress(host);
      if (fe && ie) issues.error(`tunnel target host must be valid FQDN or IP address: ${fe}; ${ie}`);
      const pe = checkPort(num(tunnel.targetPort));
      if (pe) issues.error(`tunnel target port is invalid: ${pe}`);
      issues.pop();
    }
  } finally {
    issues.pop();
  }
}

function checkPolicyParts(tp: Obj, namespace: string, issues: Issues): void {
  const od = obj(tp.outlierDetection);
  if (od) checkOutlierDetection(od, issues);
  if (isSet(tp.connectionPool)) {
    issues.push('connectionPool');
    checkConnectionPool(tp.connectionPool, issues);
    issues.pop();
  }
  const lb = obj(tp.loadBalancer);
  if (lb) checkLoadBalancer(lb, od !== undefined, issues);
  const tls = obj(tp.tls);
  if (tls) checkClientTLS(tls, namespace, issues);
}

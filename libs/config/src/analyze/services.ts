// Finding the service (Kubernetes Service or ServiceEntry) a host refers to, with exportTo visibility.
import type { Resource } from '../model';
import { list, num, obj, str, strList } from '../validate/common/access';
import { hostsMatch } from '../validate/common/names';
import type { AnalysisContext } from './context';
import { ns, specOf } from './context';

export interface ServicePort {
  readonly number: number;
  readonly name: string;
  readonly protocol: string;
}

export interface FoundService {
  readonly resource: Resource;
  readonly ports: readonly ServicePort[];
}

const SUFFIX = '.svc.cluster.local';

/** The fully qualified form of a host written in namespace `namespace` (`reviews` → `reviews.ns.svc.cluster.local`). */
export function qualify(host: string, namespace: string): string {
  if (host.includes('*') || host.endsWith(SUFFIX)) return host;
  const parts = host.split('.');
  if (parts.length === 1) return `${host}.${namespace}${SUFFIX}`;
  if (parts.length === 2) return `${host}${SUFFIX}`;
  if (parts.length === 3 && parts[2] === 'svc') return `${host}.cluster.local`;
  return host;
}

export function visibleFrom(r: Resource, fromNamespace: string): boolean {
  const exportTo = strList(specOf(r).exportTo);
  if (exportTo.length === 0 || exportTo.includes('*')) return true;
  for (const e of exportTo) {
    if (e === '.' && ns(r) === fromNamespace) return true;
    if (e === fromNamespace) return true;
  }
  return false;
}

export function servicePorts(r: Resource): ServicePort[] {
  return list(specOf(r).ports).map((p) => {
    const o = obj(p) ?? {};
    return {
      number: num(r.kind === 'Service' ? o.port : o.number),
      name: str(o.name),
      protocol: str(o.protocol),
    };
  });
}

/** The service a destination host in namespace `fromNamespace` resolves to, if any. */
export function findService(
  ctx: AnalysisContext,
  host: string,
  fromNamespace: string,
): FoundService | undefined {
  const fqdn = qualify(host, fromNamespace);
  for (const s of ctx.all('Service')) {
    if (`${s.name}.${ns(s)}${SUFFIX}` === fqdn) return { resource: s, ports: servicePorts(s) };
  }
  for (const se of ctx.all('ServiceEntry', 'networking.istio.io')) {
    if (!visibleFrom(se, fromNamespace)) continue;
    for (const h of strList(specOf(se).hosts)) {
      const seHost = qualify(h, ns(se));
      if (hostsMatch(seHost, fqdn) && (seHost === fqdn || seHost.startsWith('*')))
        return { resource: se, ports: servicePorts(se) };
    }
  }
  return undefined;
}

// ServiceEntry analyzers: addresses required for TCP ports (IST0134), conflicting protocols (IST0177).
import type { Resource } from '../../model';
import { list, num, obj, str, strList } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { fullName, ns, specOf, stringMap } from '../context';
import { Messages } from '../messages';

export const protocolAddressesAnalyzer: Analyzer = {
  name: 'serviceentry.ProtocolAddressesAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const meta = stringMap(obj(ctx.meshConfig.defaultConfig)?.proxyMetadata);
    const autoAllocated =
      meta.ISTIO_META_DNS_CAPTURE === 'true' &&
      (meta.ISTIO_META_DNS_AUTO_ALLOCATE === 'true' || meta.PILOT_ENABLE_IP_AUTOALLOCATE === 'true');
    if (autoAllocated) return;
    for (const se of ctx.all('ServiceEntry', 'networking.istio.io')) {
      const spec = specOf(se);
      if (spec.addresses !== undefined && spec.addresses !== null) continue;
      const status = obj(se.object.status);
      if (list(status?.addresses).length > 0) continue;
      list(spec.ports).forEach((p, i) => {
        const proto = str(obj(p)?.protocol);
        if (proto === '' || proto.toUpperCase() === 'TCP') {
          ctx.report(
            Messages.ServiceEntryAddressesRequired,
            se,
            'ServiceEntry addresses are required for this protocol.',
            `spec.ports[${i}].protocol`,
          );
        }
      });
    }
  },
};

function scopes(se: Resource): string[] {
  const exportTo = strList(specOf(se).exportTo);
  if (exportTo.length === 0 || exportTo.includes('*')) return ['*'];
  return exportTo.map((e) => (e === '.' ? ns(se) : e));
}

export const conflictingServiceEntryProtocolAnalyzer: Analyzer = {
  name: 'serviceentry.ConflictingServiceEntryProtocolAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const byHostPort = new Map<string, { se: Resource; protocol: string; scopes: string[] }[]>();
    for (const se of ctx.all('ServiceEntry', 'networking.istio.io')) {
      const spec = specOf(se);
      for (const h of strList(spec.hosts)) {
        for (const p of list(spec.ports)) {
          const key = `${h}|${num(obj(p)?.number)}`;
          byHostPort.set(key, [
            ...(byHostPort.get(key) ?? []),
            { se, protocol: str(obj(p)?.protocol).toUpperCase() || 'TCP', scopes: scopes(se) },
          ]);
        }
      }
    }
    for (const [key, entries] of byHostPort) {
      const [host, port] = key.split('|');
      const overlapping = entries.filter((e) =>
        entries.some(
          (o) =>
            o !== e &&
            o.protocol !== e.protocol &&
            (e.scopes.includes('*') || o.scopes.includes('*') || e.scopes.some((s) => o.scopes.includes(s))),
        ),
      );
      if (overlapping.length < 2) continue;
      const seNames = overlapping
        .map((e) => fullName(e.se))
        .sort()
        .join(', ');
      const protocols = [...new Set(overlapping.map((e) => e.protocol))].sort().join(', ');
      for (const e of overlapping) {
        ctx.report(
          Messages.ConflictingServiceEntryProtocol,
          e.se,
          `Multiple ServiceEntries (${seNames}) define the same host "${host}" and port ${port} with conflicting protocols (${protocols}).`,
        );
      }
    }
  },
};

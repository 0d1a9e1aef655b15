// DestinationRule analyzers: TLS without CA certificates (IST0128/IST0129), subsets selecting no pods (IST0173),
// hosts matching no service (IST0174).
import { list, obj, str } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { fullName, ns, specOf } from '../context';
import { Messages } from '../messages';

export const caCertificateAnalyzer: Analyzer = {
  name: 'destinationrule.CaCertificateAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const r of ctx.all('DestinationRule', 'networking.istio.io')) {
      const spec = specOf(r);
      const tp = obj(spec.trafficPolicy);
      const hasSelector = spec.workloadSelector !== undefined && spec.workloadSelector !== null;
      const host = str(spec.host);
      const tls = obj(tp?.tls);
      const mode = str(tls?.mode);
      const unverified = (t: typeof tls): boolean =>
        str(t?.caCertificates) === '' && !(str(t?.credentialName) !== '' && hasSelector);
      if ((mode === 'SIMPLE' || mode === 'MUTUAL') && unverified(tls)) {
        ctx.report(
          Messages.NoServerCertificateVerificationDestinationLevel,
          r,
          `DestinationRule ${fullName(r)} in namespace ${ns(r)} has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${host}`,
          'spec.trafficPolicy.tls',
        );
      }
      list(tp?.portLevelSettings).forEach((p, i) => {
        const pt = obj(obj(p)?.tls);
        const pm = str(pt?.mode);
        if ((pm === 'SIMPLE' || pm === 'MUTUAL') && unverified(pt)) {
          const port = obj(obj(p)?.port)?.number;
          ctx.report(
            Messages.NoServerCertificateVerificationPortLevel,
            r,
            `DestinationRule ${fullName(r)} in namespace ${ns(r)} has TLS mode set to ${pm} but no caCertificates are set to validate server identity for host: ${host} at port number:${String(port ?? '')}`,
            `spec.trafficPolicy.portLevelSettings[${i}].tls`,
          );
        }
      });
    }
  },
};

// Schema validation of every Istio resource: errors (IST0106), unreachable/ineffective VirtualService rules
// (IST0130/IST0131) and other validation warnings (IST0133).
import { unreachableRules } from '../../validate/virtual-service';
import type { AnalysisContext, Analyzer } from '../context';
import { specOf } from '../context';
import { Messages } from '../messages';

const ROUTE_WARNING = /^virtualService rule .* (not used \(|is not used \(duplicate)/;

export const schemaAnalyzer: Analyzer = {
  name: 'schema.ValidationAnalyzer',
  analyze(ctx: AnalysisContext): void {
    if (!ctx.validationOf) return;
    for (const r of ctx.resources) {
      const v = ctx.validationOf(r);
      for (const e of v.errors) {
        const text = e.path && !e.message.startsWith(e.path) ? `${e.path}: ${e.message}` : e.message;
        ctx.report(Messages.SchemaValidationError, r, `Schema validation error: ${text}`, e.path);
      }
      for (const w of v.warnings) {
        if (ROUTE_WARNING.test(w.message)) continue;
        ctx.report(Messages.SchemaWarning, r, `Schema validation warning: ${w.message}`, w.path);
      }
      if (r.kind === 'VirtualService' && r.group === 'networking.istio.io') {
        for (const f of unreachableRules(specOf(r))) {
          const [, rest] = /^virtualService (.*)$/.exec(f.message) ?? [];
          const type =
            f.type === 'VirtualServiceUnreachableRule'
              ? Messages.VirtualServiceUnreachableRule
              : Messages.VirtualServiceIneffectiveMatch;
          ctx.report(type, r, `VirtualService ${rest}.`, `spec.${f.field}`);
        }
      }
    }
  },
};

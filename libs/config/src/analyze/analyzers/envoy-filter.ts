// EnvoyFilter patch operations that Istio may apply unexpectedly (IST0151..IST0155).
import { list, num, obj, str } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { specOf } from '../context';
import { Messages } from '../messages';

const ROUTE_LEVEL = new Set(['ROUTE_CONFIGURATION', 'HTTP_ROUTE']);

export const envoyPatchAnalyzer: Analyzer = {
  name: 'envoyfilter.EnvoyPatchAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const versioned: string[] = [];
    for (const r of ctx.all('EnvoyFilter', 'networking.istio.io')) {
      const spec = specOf(r);
      const priority = num(spec.priority);
      const patches = list(spec.configPatches);
      for (let i = 0; i < patches.length; i++) {
        const cp = obj(patches[i]);
        const patch = obj(cp?.patch);
        if (!cp || !patch) break;
        const value = obj(patch.value);
        let instance = '';
        if (value) {
          if (value.name !== undefined) instance = JSON.stringify(value.name);
          else instance = str(obj(obj(obj(obj(cp.match)?.listener)?.filterChain)?.filter)?.name);
        }
        const path = `spec.configPatches[${i}]`;
        const relative = (): void => {
          if (priority !== 0) return;
          const type = versioned.includes(instance)
            ? Messages.EnvoyFilterUsesRelativeOperationWithProxyVersion
            : Messages.EnvoyFilterUsesRelativeOperation;
          const text =
            type === Messages.EnvoyFilterUsesRelativeOperation
              ? 'This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.'
              : 'This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.';
          ctx.report(type, r, text, path);
        };
        const op = str(patch.operation);
        const applyTo = str(cp.applyTo);
        if (op === 'ADD') {
          if (ROUTE_LEVEL.has(applyTo)) {
            ctx.report(
              Messages.EnvoyFilterUsesAddOperationIncorrectly,
              r,
              'The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.',
              path,
            );
          }
        } else if (op === 'REMOVE') {
          if (ROUTE_LEVEL.has(applyTo)) {
            ctx.report(
              Messages.EnvoyFilterUsesRemoveOperationIncorrectly,
              r,
              'The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.',
              path,
            );
          } else relative();
        } else if (op === 'REPLACE') {
          if (applyTo !== 'NETWORK_FILTER' && applyTo !== 'HTTP_FILTER' && applyTo !== 'VIRTUAL_HOST') {
            ctx.report(
              Messages.EnvoyFilterUsesReplaceOperationIncorrectly,
              r,
              'The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.',
              path,
            );
          } else relative();
        } else if (op === 'INSERT_BEFORE' || op === 'INSERT_AFTER') relative();
        if (str(obj(obj(cp.match)?.proxy)?.proxyVersion) !== '') versioned.push(instance);
      }
    }
  },
};

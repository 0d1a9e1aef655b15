// DestinationRule: host, traffic policies, subsets, exportTo, workload selector.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { isSet, list, obj, str } from './common/access';
import type { ResourceContext } from './common/context';
import { labelProblems } from './common/labels';
import { checkWildcardDomain, isDNS1123Label } from './common/names';
import { checkExportTo, checkWorkloadSelector } from './common/selectors';
import { checkTrafficPolicy } from './common/traffic-policy';

export function validateDestinationRule(spec: Obj, ctx: ResourceContext, issues: Issues): void {
  const hostError = checkWildcardDomain(str(spec.host));
  if (hostError) issues.error(hostError, 'host');
  checkTrafficPolicy(spec.trafficPolicy, ctx.namespace, issues);
  const names = new Set<string>();
  list(spec.subsets).forEach((s, i) => {
    issues.push('subsets');
    issues.push(i);
    const subset = obj(s);
    if (!subset) issues.error('subset may not be null');
    else {
      const name = str(subset.name);
      if (names.has(name)) issues.error(`duplicate subset names: ${name}`, 'name');
      names.add(name);
      if (name === '') issues.error('subset name cannot be empty', 'name');
      else if (!isDNS1123Label(name)) issues.error(`subset name is invalid: ${name}`, 'name');
      for (const p of labelProblems(subset.labels)) issues.error(p, 'labels');
      checkTrafficPolicy(subset.trafficPolicy, ctx.namespace, issues);
    }
    issues.pop();
    issues.pop();
  });
  checkExportTo(ctx.namespace, spec.exportTo, issues, false, isSet(spec.workloadSelector));
  checkWorkloadSelector(spec.workloadSelector, issues, 'workloadSelector');
}

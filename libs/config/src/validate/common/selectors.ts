// Workload selectors, policy target references, exportTo.
import type { Issues } from '../../issues';
import type { Obj } from '../../schema/types';
import { list, obj, str } from './access';
import { isDNS1123Label } from './names';

/** istio.type.v1beta1.WorkloadSelector (`matchLabels`). */
export function checkWorkloadSelector(selector: unknown, issues: Issues, field = 'selector'): void {
  const sel = obj(selector);
  if (!sel) return;
  const labels = obj(sel.matchLabels) ?? {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === '')
      issues.error(`empty key is not supported in selector: "${k}=${str(v)}"`, field, 'matchLabels');
    if (k.includes('*') || str(v).includes('*')) {
      issues.error(`wildcard is not supported in selector: "${k}=${str(v)}"`, field, 'matchLabels');
    }
  }
  if (Object.keys(labels).length === 0) issues.warn('workload selector specified without labels', field);
}

/** networking.v1alpha3.WorkloadSelector (`labels`). Returns true when it has no labels. */
export function checkAlphaWorkloadSelector(selector: unknown, issues: Issues, field: string): boolean {
  const sel = obj(selector);
  if (!sel) return false;
  const labels = obj(sel.labels) ?? {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === '') issues.error(`empty key is not supported in selector: "${k}=${str(v)}"`, field, 'labels');
    if (k.includes('*') || str(v).includes('*')) {
      issues.error(`wildcard is not supported in selector: "${k}=${str(v)}"`, field, 'labels');
    }
  }
  return Object.keys(labels).length === 0;
}

const ALLOWED_TARGETS = new Set([
  'core/Service',
  'networking.istio.io/ServiceEntry',
  'gateway.networking.k8s.io/Gateway',
  'gateway.networking.k8s.io/GatewayClass',
]);

function checkTargetRef(ref: Obj, issues: Issues): void {
  if (str(ref.name) === '') issues.error('targetRef name must be set');
  if (str(ref.namespace) !== '')
    issues.error('targetRef namespace must not be set; cross namespace referencing is not supported');
  const group = str(ref.group) === '' ? 'core' : str(ref.group);
  if (!ALLOWED_TARGETS.has(`${group}/${str(ref.kind)}`)) {
    issues.error(
      `targetRef must be to one of [core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass] but was ${str(ref.group)}/${str(ref.kind)}`,
    );
  }
}

/** selector / targetRef / targetRefs: at most one, each well-formed. */
export function checkPolicyTargets(spec: Obj, issues: Issues, selectorField = 'selector'): void {
  let set = 0;
  if (obj(spec[selectorField])) set++;
  if (obj(spec.targetRef)) set++;
  if (list(spec.targetRefs).length > 0) set++;
  if (set > 1) issues.error('only one of targetRefs or workloadSelector can be set');
  checkWorkloadSelector(spec[selectorField], issues, selectorField);
  const single = obj(spec.targetRef);
  if (single) {
    issues.push('targetRef');
    checkTargetRef(single, issues);
    issues.pop();
  }
  list(spec.targetRefs).forEach((r, i) => {
    const ref = obj(r);
    if (!ref) return;
    issues.push('targetRefs');
    issues.push(i);
    checkTargetRef(ref, issues);
    issues.pop();
    issues.pop();
  });
}

/** exportTo entries: `.`, `*`, a namespace (and `~` for ServiceEntry), without duplicates or mixing. */
export function checkExportTo(
  namespace: string,
  exportTo: unknown,
  issues: Issues,
  isServiceEntry: boolean,
  isDestinationRuleWithSelector = false,
): void {
  const entries = list(exportTo).filter((e): e is string => typeof e === 'string');
  if (entries.length === 0) return;
  const set = new Set<string>();
  for (const e of entries) {
    const key = e === '.' ? namespace : e;
    if (set.has(key)) {
      issues.error(
        key !== e
          ? `duplicate entries in exportTo: . and current namespace ${namespace}`
          : `duplicate entries in exportTo for entry ${e}`,
        'exportTo',
      );
      continue;
    }
    if (isServiceEntry && e === '~') {
      set.add(key);
      continue;
    }
    if (key === '~')
      issues.error('exportTo ~ (none) is not allowed for Istio configuration objects', 'exportTo');
    else if (key !== '.' && key !== '*' && !isDNS1123Label(key)) {
      issues.error('only .,*, or a valid DNS 1123 label is allowed as exportTo entry', 'exportTo');
    } else set.add(key);
  }
  if (isDestinationRuleWithSelector && set.size > 0) {
    if (set.has(namespace)) {
      if (set.size > 1)
        issues.error(
          'destination rule with workload selector cannot have multiple entries in exportTo',
          'exportTo',
        );
    } else {
      issues.error(
        'destination rule with workload selector cannot have exportTo beyond current namespace',
        'exportTo',
      );
    }
  }
  if (set.has('*') && entries.length > 1) {
    issues.error('cannot have both public (*) and non-public exportTo values for a resource', 'exportTo');
  }
  if (set.has('~') && entries.length > 1)
    issues.error('cannot export service entry to no one (~) and someone', 'exportTo');
}

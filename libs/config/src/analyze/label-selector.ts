// Kubernetes LabelSelector matching (matchLabels and matchExpressions), as webhooks and workload controllers use it.
import { list, obj, str, strList } from '../validate/common/access';
import { stringMap } from './context';

/**
 * Whether a metav1.LabelSelector selects the labels. An absent selector selects everything (the webhook default);
 * a selector Kubernetes would reject (unknown operator) selects nothing.
 */
export function labelSelectorMatches(selector: unknown, labels: Record<string, string>): boolean {
  const s = obj(selector);
  if (!s) return true;
  for (const [k, v] of Object.entries(stringMap(s.matchLabels))) if (labels[k] !== v) return false;
  for (const e of list(s.matchExpressions)) {
    const expr = obj(e) ?? {};
    const key = str(expr.key);
    const values = strList(expr.values);
    const has = key in labels;
    switch (expr.operator) {
      case 'In':
        if (!has || !values.includes(labels[key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

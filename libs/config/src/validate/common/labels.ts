// Label keys and values (Istio's labels.Instance validation).

const QUALIFIED = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const DNS_LABEL = '[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?';
const TAG_KEY = new RegExp(`^(${DNS_LABEL}(?:\\.${DNS_LABEL})*/)?(${QUALIFIED})$`);
const LABEL_VALUE = new RegExp(`^(?:${QUALIFIED})?$`);

export function checkLabelKey(key: string): string | undefined {
  const m = TAG_KEY.exec(key);
  if (!m) return `invalid tag key: "${key}"`;
  if (m[1] && m[1].length - 1 > 253) return `invalid tag key: "${key}" (DNS prefix is too long)`;
  if (m[2].length > 63) return `invalid tag key: "${key}" (name is too long)`;
  return undefined;
}

export function checkLabelValue(value: string): string | undefined {
  return LABEL_VALUE.test(value) ? undefined : `invalid tag value: "${value}"`;
}

/** All problems with a label map; values that are not strings are left to the schema check. */
export function labelProblems(labels: unknown): string[] {
  const out: string[] = [];
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return out;
  for (const [k, v] of Object.entries(labels)) {
    const kp = checkLabelKey(k);
    if (kp) out.push(kp);
    if (typeof v === 'string') {
      const vp = checkLabelValue(v);
      if (vp) out.push(vp);
    }
  }
  return out;
}

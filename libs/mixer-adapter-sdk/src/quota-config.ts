import type { ParamsReader } from './params';
import type { Value } from './values';
import { valueToString } from './values';

/** One override of a quota's limit for instances whose dimensions include all of `dimensions`. */
export interface QuotaOverride {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly maxAmount: number;
  readonly validDurationMs: number;
}

/** A quota limit as memquota and redisquota configure it (Istio 1.4's `quotas:` params). */
export interface QuotaLimit {
  /** The quota instance this limit applies to (short, name.namespace, or Istio's name.quota.namespace). */
  readonly name: string;
  readonly maxAmount: number;
  /** The window; 0 means no window (an allocation pool that only a release would refill). */
  readonly validDurationMs: number;
  readonly overrides: readonly QuotaOverride[];
}

/** Reads `quotas:` (each with name, maxAmount, validDuration, overrides) from adapter params. */
export function readQuotaLimits(
  p: ParamsReader,
  extra: (item: ParamsReader) => void = () => undefined,
  extraFields: readonly string[] = [],
): QuotaLimit[] {
  return p.list('quotas', (q) => {
    q.only('name', 'maxAmount', 'validDuration', 'overrides', ...extraFields);
    const name = q.string('name', '');
    if (!name) q.problem('name', 'required');
    const whole = (n: number) => (Number.isInteger(n) && n >= 0 ? undefined : 'must be a whole number');
    const maxAmount = q.number('maxAmount', 0, whole);
    const validDurationMs = q.durationMs('validDuration', 0);
    const overrides = q.list('overrides', (o) => {
      o.only('dimensions', 'maxAmount', 'validDuration');
      const dimensions = o.stringMap('dimensions');
      if (Object.keys(dimensions).length === 0)
        o.problem('dimensions', 'an override needs at least one dimension');
      return {
        dimensions,
        maxAmount: o.number('maxAmount', maxAmount, whole),
        validDurationMs: o.durationMs('validDuration', validDurationMs),
      };
    });
    extra(q);
    return { name, maxAmount, validDurationMs, overrides };
  });
}

/** Whether a configured instance name refers to the instance `fqn` (name.namespace). */
export function instanceNameMatches(configured: string, fqn: string): boolean {
  if (configured === fqn) return true;
  const dot = fqn.indexOf('.');
  const name = fqn.slice(0, dot);
  const ns = fqn.slice(dot + 1);
  return (
    configured === name || configured === `${name}.quota.${ns}` || configured === `${name}.instance.${ns}`
  );
}

/** The limit in force for an instance: the first override whose dimensions all match, else the quota's own. */
export function effectiveLimit(
  limit: QuotaLimit,
  dimensions: Readonly<Record<string, Value>>,
): { maxAmount: number; validDurationMs: number; override: number } {
  for (let i = 0; i < limit.overrides.length; i++) {
    const o = limit.overrides[i];
    if (
      Object.entries(o.dimensions).every(
        ([k, v]) => dimensions[k] !== undefined && valueToString(dimensions[k]) === v,
      )
    )
      return { maxAmount: o.maxAmount, validDurationMs: o.validDurationMs, override: i };
  }
  return { maxAmount: limit.maxAmount, validDurationMs: limit.validDurationMs, override: -1 };
}

/** A stable key for a quota bucket: the instance name and its dimensions in name order. */
export function bucketKey(instanceName: string, dimensions: Readonly<Record<string, Value>>): string {
  const dims = Object.keys(dimensions)
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(valueToString(dimensions[k]))}`)
    .join('&');
  return `${instanceName};${dims}`;
}

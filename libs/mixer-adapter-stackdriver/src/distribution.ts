import type { ParamsReader } from '@flotilla/mixer-adapter-sdk';

/**
 * Istio's stackdriver `BucketsDefinition` (one of linearBuckets, exponentialBuckets, explicitBuckets), which has
 * the same fields as Cloud Monitoring's Distribution.BucketOptions and is sent as it is.
 */
export type BucketOptions =
  | { readonly linearBuckets: { numFiniteBuckets: number; width: number; offset: number } }
  | { readonly exponentialBuckets: { numFiniteBuckets: number; growthFactor: number; scale: number } }
  | { readonly explicitBuckets: { bounds: readonly number[] } };

/** How many buckets a Distribution with these options has: the finite ones plus underflow and overflow. */
export function bucketCount(options: BucketOptions): number {
  if ('linearBuckets' in options) return options.linearBuckets.numFiniteBuckets + 2;
  if ('exponentialBuckets' in options) return options.exponentialBuckets.numFiniteBuckets + 2;
  return options.explicitBuckets.bounds.length + 1;
}

/**
 * The index of the bucket `value` falls in, as google.monitoring.v3 Distribution.BucketOptions defines them: bucket 0
 * is the underflow bucket, every bucket includes its lower bound and excludes its upper one, the last is overflow.
 */
export function bucketIndex(options: BucketOptions, value: number): number {
  if ('linearBuckets' in options) {
    const { numFiniteBuckets: n, width, offset } = options.linearBuckets;
    if (value < offset) return 0;
    return Math.min(n + 1, Math.floor((value - offset) / width) + 1);
  }
  if ('exponentialBuckets' in options) {
    const { numFiniteBuckets: n, growthFactor, scale } = options.exponentialBuckets;
    if (value < scale) return 0;
    let i = Math.floor(Math.log(value / scale) / Math.log(growthFactor)) + 1;
    // Logarithms round: put the value on the right side of the bounds next to it.
    if (value < scale * growthFactor ** (i - 1)) i--;
    else if (value >= scale * growthFactor ** i) i++;
    return Math.min(n + 1, i);
  }
  const bounds = options.explicitBuckets.bounds;
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A running distribution: count, mean and sum of squared deviations kept with Welford's update. */
export class DistributionAccumulator {
  count = 0;
  mean = 0;
  sumOfSquaredDeviation = 0;
  readonly bucketCounts: number[];

  constructor(readonly options: BucketOptions) {
    this.bucketCounts = new Array<number>(bucketCount(options)).fill(0);
  }

  add(value: number): void {
    this.count++;
    const delta = value - this.mean;
    this.mean += delta / this.count;
    this.sumOfSquaredDeviation += delta * (value - this.mean);
    this.bucketCounts[bucketIndex(this.options, value)]++;
  }

  reset(): void {
    this.count = 0;
    this.mean = 0;
    this.sumOfSquaredDeviation = 0;
    this.bucketCounts.fill(0);
  }

  /** google.monitoring.v3 TypedValue.distributionValue. */
  toValue(): object {
    return {
      count: this.count,
      mean: this.count ? this.mean : 0,
      sumOfSquaredDeviation: this.sumOfSquaredDeviation,
      bucketOptions: this.options,
      bucketCounts: [...this.bucketCounts],
    };
  }
}

const positiveInteger = (n: number) =>
  Number.isInteger(n) && n > 0 ? undefined : 'must be a whole number > 0';

/** Reads Istio's `buckets` (BucketsDefinition) from a metricInfo entry; exactly one kind must be given. */
export function readBuckets(m: ParamsReader, raw: unknown): BucketOptions | undefined {
  const b = m.nested('buckets');
  if (!b) {
    m.problem(
      'buckets',
      'required for DISTRIBUTION metrics: linearBuckets, exponentialBuckets or explicitBuckets',
    );
    return undefined;
  }
  b.only('linearBuckets', 'exponentialBuckets', 'explicitBuckets');
  const given = ['linearBuckets', 'exponentialBuckets', 'explicitBuckets'].filter((k) => b.has(k));
  if (given.length !== 1) {
    b.problem(
      given[0] ?? 'linearBuckets',
      `give exactly one of linearBuckets, exponentialBuckets, explicitBuckets`,
    );
    return undefined;
  }
  if (given[0] === 'linearBuckets') {
    const l = b.nested('linearBuckets')!.only('numFiniteBuckets', 'width', 'offset');
    const numFiniteBuckets = l.number('numFiniteBuckets', 0, positiveInteger);
    if (!l.has('numFiniteBuckets')) l.problem('numFiniteBuckets', 'required');
    const width = l.number('width', 0, (n) => (n > 0 ? undefined : 'must be > 0'));
    if (!l.has('width')) l.problem('width', 'required');
    const offset = l.number('offset', 0);
    return { linearBuckets: { numFiniteBuckets, width, offset } };
  }
  if (given[0] === 'exponentialBuckets') {
    const e = b.nested('exponentialBuckets')!.only('numFiniteBuckets', 'growthFactor', 'scale');
    const numFiniteBuckets = e.number('numFiniteBuckets', 0, positiveInteger);
    if (!e.has('numFiniteBuckets')) e.problem('numFiniteBuckets', 'required');
    const growthFactor = e.number('growthFactor', 0, (n) => (n > 1 ? undefined : 'must be > 1'));
    if (!e.has('growthFactor')) e.problem('growthFactor', 'required');
    const scale = e.number('scale', 0, (n) => (n > 0 ? undefined : 'must be > 0'));
    if (!e.has('scale')) e.problem('scale', 'required');
    return { exponentialBuckets: { numFiniteBuckets, growthFactor, scale } };
  }
  const x = b.nested('explicitBuckets')!.only('bounds');
  const rawBounds = (
    (raw as Record<string, Record<string, unknown>>).buckets.explicitBuckets as Record<string, unknown>
  )?.bounds;
  const bounds = Array.isArray(rawBounds)
    ? rawBounds.map((v) => (typeof v === 'string' ? Number(v) : v))
    : [];
  if (
    !Array.isArray(rawBounds) ||
    bounds.length === 0 ||
    bounds.some((v) => typeof v !== 'number' || !Number.isFinite(v))
  )
    x.problem('bounds', 'expected a non-empty list of numbers');
  else if (bounds.some((v, i) => i > 0 && (v as number) <= (bounds[i - 1] as number)))
    x.problem('bounds', 'must be strictly increasing');
  return { explicitBuckets: { bounds: bounds as number[] } };
}

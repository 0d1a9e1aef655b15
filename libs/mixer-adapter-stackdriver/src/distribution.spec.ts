import { DistributionAccumulator, bucketCount, bucketIndex } from './distribution';
import type { BucketOptions } from './distribution';

describe('Cloud Monitoring bucket layout', () => {
  it('linear: underflow below offset, lower bounds inclusive, overflow from offset + width × n', () => {
    const linear: BucketOptions = { linearBuckets: { numFiniteBuckets: 3, width: 10, offset: 5 } };
    expect(bucketCount(linear)).toBe(5);
    expect([4.99, 5, 14.99, 15, 25, 34.99, 35, 1e9].map((v) => bucketIndex(linear, v))).toEqual([
      0, 1, 1, 2, 3, 3, 4, 4,
    ]);
  });

  it('exponential: bucket i is [scale × g^(i-1), scale × g^i), exact powers land on their lower bound', () => {
    const exp: BucketOptions = { exponentialBuckets: { numFiniteBuckets: 4, growthFactor: 10, scale: 1 } };
    expect(bucketCount(exp)).toBe(6);
    expect([0.5, 1, 9.99, 10, 100, 999, 1000, 10_000, 1e12].map((v) => bucketIndex(exp, v))).toEqual([
      0, 1, 1, 2, 3, 3, 4, 5, 5,
    ]);
  });

  it('explicit: n bounds make n + 1 buckets, a value equal to a bound goes above it', () => {
    const explicit: BucketOptions = { explicitBuckets: { bounds: [1, 5, 10] } };
    expect(bucketCount(explicit)).toBe(4);
    expect([-1, 0.99, 1, 4, 5, 9, 10, 11].map((v) => bucketIndex(explicit, v))).toEqual([
      0, 0, 1, 1, 2, 2, 3, 3,
    ]);
  });

  it('keeps count, mean and the sum of squared deviations equal to the two-pass figures', () => {
    const d = new DistributionAccumulator({ explicitBuckets: { bounds: [10] } });
    const values = [2, 4, 4, 4, 5, 5, 7, 9, 1000.5];
    for (const v of values) d.add(v);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const ssd = values.reduce((a, v) => a + (v - mean) ** 2, 0);
    expect(d.count).toBe(9);
    expect(d.mean).toBeCloseTo(mean, 10);
    expect(d.sumOfSquaredDeviation).toBeCloseTo(ssd, 6);
    expect(d.bucketCounts).toEqual([8, 1]);
    d.reset();
    expect(d.toValue()).toEqual({
      count: 0,
      mean: 0,
      sumOfSquaredDeviation: 0,
      bucketOptions: { explicitBuckets: { bounds: [10] } },
      bucketCounts: [0, 0],
    });
  });
});

import { bench, formatResults, percentile } from './harness';

describe('bench harness', () => {
  it('measures a case doing twice the work as roughly half as fast as the baseline', () => {
    const work = (n: number) => {
      let x = 0;
      for (let i = 0; i < n; i++) x += Math.sqrt(i);
      return x;
    };
    const [base, double] = bench(
      { name: 'n', run: () => work(2000) },
      [{ name: '2n', run: () => work(4000) }],
      {
        rounds: 3,
        msPerRound: 60,
        warmupMs: 30,
      },
    );
    expect(base.ratio).toBe(1);
    // Generous bounds: this checks the arithmetic of ratios, not the machine's speed.
    expect(double.ratio).toBeGreaterThan(0.25);
    expect(double.ratio).toBeLessThan(0.9);
  });

  it('prints the baseline and each ratio', () => {
    const text = formatResults('t', [
      { name: 'a', opsPerSecond: 1000, ratio: 1 },
      { name: 'bb', opsPerSecond: 2500, ratio: 2.5 },
    ]);
    expect(text).toBe('t\n  a          1,000 ops/s  (baseline)\n  bb         2,500 ops/s  2.50× baseline');
  });

  it('reads percentiles off an ascending array, the top one clamped to the last value', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(51);
    expect(percentile(sorted, 99)).toBe(100);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 90)).toBe(7);
  });
});

/**
 * A small benchmark harness: runs each case for a fixed wall-clock budget after a warm-up, in alternating rounds
 * so that machine noise hits every case alike, and reports operations per second and the ratio against the
 * baseline case measured in the same run. Ratios, not absolute figures, are what docs/benchmarks.md compares.
 */
export interface BenchCase {
  name: string;
  /** Runs one operation; the harness counts calls. */
  run: () => unknown;
}

export interface BenchResult {
  name: string;
  opsPerSecond: number;
  /** opsPerSecond divided by the baseline's. */
  ratio: number;
}

export interface BenchOptions {
  rounds?: number;
  msPerRound?: number;
  warmupMs?: number;
}

let sink: unknown;

function runFor(c: BenchCase, ms: number): { ops: number; elapsedMs: number } {
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let ops = 0;
  let now = start;
  while (now - start < budget) {
    // 16 calls between clock reads keep the clock's cost out of small operations.
    for (let i = 0; i < 16; i++) sink = c.run();
    ops += 16;
    now = process.hrtime.bigint();
  }
  return { ops, elapsedMs: Number(now - start) / 1e6 };
}

export function bench(baseline: BenchCase, others: BenchCase[], options: BenchOptions = {}): BenchResult[] {
  const { rounds = 5, msPerRound = 300, warmupMs = 300 } = options;
  const cases = [baseline, ...others];
  for (const c of cases) runFor(c, warmupMs);
  const totals = cases.map(() => ({ ops: 0, elapsedMs: 0 }));
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      const { ops, elapsedMs } = runFor(c, msPerRound);
      totals[i].ops += ops;
      totals[i].elapsedMs += elapsedMs;
    });
  }
  if (sink === Symbol.for('never')) console.log(sink);
  const rates = totals.map((t) => (t.ops * 1000) / t.elapsedMs);
  return cases.map((c, i) => ({ name: c.name, opsPerSecond: rates[i], ratio: rates[i] / rates[0] }));
}

export function formatResults(title: string, results: BenchResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = results.map(
    (r, i) =>
      `  ${r.name.padEnd(width)}  ${Math.round(r.opsPerSecond).toLocaleString('en-US').padStart(12)} ops/s  ` +
      (i === 0 ? '(baseline)' : `${r.ratio.toFixed(2)}× baseline`),
  );
  return [title, ...lines].join('\n');
}

/** The value at percentile `p` (0–100) of an ascending array: the one below which `p`% of the values lie. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

import { QuotaPrefetch } from './quota-prefetch';

describe('QuotaPrefetch', () => {
  it('asks for the minimum prefetch first, refills in the background once under half, and follows usage', async () => {
    const asked: number[] = [];
    const now = 0;
    const pool = new QuotaPrefetch(
      async (amount) => {
        asked.push(amount);
        return { granted: amount, validDurationMs: 10_000 };
      },
      { minPrefetchAmount: 10, predictWindowMs: 1000, now: () => now },
    );
    expect(await pool.acquire(1)).toBe(true);
    expect(asked).toEqual([10]);
    for (let i = 0; i < 4; i++) await pool.acquire(1);
    expect(asked).toEqual([10]); // 5 left: not under half yet
    await pool.acquire(1); // 4 left < 10 / 2
    expect(asked).toEqual([10, 10]);
    expect(pool.available()).toBe(14);
    // 30 requests inside one window: the next prefetch asks for that many
    for (let i = 0; i < 24; i++) await pool.acquire(1);
    expect(Math.max(...asked)).toBeGreaterThanOrEqual(20);
  });

  it('drops expired grants', async () => {
    let now = 0;
    const pool = new QuotaPrefetch(async () => ({ granted: 1, validDurationMs: 100 }), { now: () => now });
    expect(await pool.acquire(1)).toBe(true);
    expect(pool.available()).toBe(0);
    const pool2 = new QuotaPrefetch(async (n) => ({ granted: n, validDurationMs: 100 }), { now: () => now });
    await pool2.acquire(1);
    expect(pool2.available()).toBe(9);
    now = 100;
    expect(pool2.available()).toBe(0);
  });

  it('refuses amounts larger than what mixer grants', async () => {
    const pool = new QuotaPrefetch(async () => ({ granted: 3 }));
    expect(await pool.acquire(5)).toBe(false);
  });
});

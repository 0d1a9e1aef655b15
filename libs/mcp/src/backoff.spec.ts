import { Backoff } from './backoff';

describe('Backoff', () => {
  it('grows exponentially up to its bound and starts again after a reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('spreads each delay by at most the jitter either way', () => {
    expect(new Backoff({ initialMs: 1000, jitter: 0.2 }, () => 0).next()).toBe(800);
    expect(new Backoff({ initialMs: 1000, jitter: 0.2 }, () => 1).next()).toBe(1200);
    const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 });
    for (let i = 0; i < 100; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(800);
      expect(d).toBeLessThanOrEqual(1200);
    }
  });
});

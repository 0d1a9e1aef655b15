import { Debouncer } from './debounce';

describe('Debouncer', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function make(afterMs: number, maxMs: number) {
    const dispatched: { merged: number[]; debouncedMs: number; count: number }[] = [];
    const d = new Debouncer<number[]>(
      { afterMs, maxMs },
      (a, b) => [...a, ...b],
      (merged, debouncedMs, count) => dispatched.push({ merged, debouncedMs, count }),
    );
    return { d, dispatched };
  }

  it('dispatches once, after the changes stop for afterMs', () => {
    const { d, dispatched } = make(100, 10_000);
    for (let i = 0; i < 5; i++) {
      d.add([i]);
      jest.advanceTimersByTime(50);
    }
    // The last change was at 200 ms; it is now 250 ms.
    expect(dispatched).toEqual([]);
    jest.advanceTimersByTime(49);
    expect(dispatched).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(dispatched).toEqual([{ merged: [0, 1, 2, 3, 4], debouncedMs: 300, count: 5 }]);
  });

  it('dispatches after maxMs however busy the changes keep it', () => {
    const { d, dispatched } = make(100, 1000);
    for (let t = 0; t < 2500; t += 50) {
      d.add([t]);
      jest.advanceTimersByTime(50);
    }
    expect(dispatched.map((x) => x.debouncedMs)).toEqual([1000, 1000]);
    expect(dispatched[0].count).toBe(20);
  });

  it('dispatches at once with afterMs 0, and flush and stop act on what is pending', () => {
    const immediate = make(0, 0);
    immediate.d.add([1]);
    expect(immediate.dispatched).toHaveLength(1);

    const { d, dispatched } = make(100, 1000);
    d.add([1]);
    d.flush();
    expect(dispatched).toHaveLength(1);
    d.add([2]);
    d.stop();
    jest.advanceTimersByTime(2000);
    expect(dispatched).toHaveLength(1);
    expect(d.hasPending).toBe(false);
  });
});

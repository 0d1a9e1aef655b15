/**
 * A value now, or a promise of it. The push path runs for thousands of connections per push and stays synchronous
 * while nothing it calls has to wait (a generator answering at once, a transport with room in its buffer): an
 * async function per step would cost promises and microtask turns per connection and type.
 */
export type MaybePromise<T> = T | Promise<T>;

/** `next(value)`, at once when `value` is not a promise, else once it resolves. */
export function andThen<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

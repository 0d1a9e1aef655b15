import type { MaybePromise } from './maybe-async';
import { mergePushRequests } from './push-request';
import type { PushRequest } from './push-request';

/**
 * Pushes waiting for their connection, with at most `concurrency` running at once. Each connection has at most
 * one waiting push: a new one merges into it (the queue never grows past the number of connections, however many
 * pushes are requested), and a push for a connection that is still being pushed waits until that push is done.
 * Connections are served first come, first served.
 *
 * Pushes start in a microtask after `enqueue`, never inside the caller's own code (a change being applied
 * finishes before anything is generated from it), and a push that finishes without waiting frees its slot at
 * once: a fan-out whose generators answer synchronously runs as one loop.
 */
export class PushQueue<K> {
  private readonly waiting = new Map<K, PushRequest>();
  /** Keys with a waiting push and no running one, in arrival order (a Set iterates in insertion order). */
  private readonly ready = new Set<K>();
  private readonly running = new Set<K>();
  private idleWaiters: (() => void)[] = [];
  private pumpScheduled = false;
  private pumping = false;

  constructor(
    private readonly concurrency: number,
    /** Makes one push; a promise when it has to wait. */
    private readonly run: (key: K, request: PushRequest) => MaybePromise<void>,
  ) {
    if (!(concurrency >= 1)) throw new Error(`push concurrency must be at least 1, got ${concurrency}`);
  }

  enqueue(key: K, request: PushRequest): void {
    const existing = this.waiting.get(key);
    this.waiting.set(key, existing ? mergePushRequests(existing, request) : request);
    if (!this.running.has(key)) this.ready.add(key);
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Forgets a key's waiting push (its connection closed); a running push finishes on its own. */
  remove(key: K): void {
    this.waiting.delete(key);
    this.ready.delete(key);
    this.notifyIfIdle();
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.waiting.size === 0 && this.running.size === 0;
  }

  private pump(): void {
    // A push that enqueues (or finishes) while the loop below runs is picked up by the loop itself.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.running.size < this.concurrency && this.ready.size > 0) {
        const key = this.ready.values().next().value as K;
        this.ready.delete(key);
        const request = this.waiting.get(key);
        this.waiting.delete(key);
        if (!request) continue;
        this.running.add(key);
        let pending: MaybePromise<void>;
        try {
          pending = this.run(key, request);
        } catch {
          // `run` reports its own errors; a throw here must still free the slot.
          pending = undefined;
        }
        if (pending instanceof Promise) {
          const done = () => {
            this.finished(key);
            this.pump();
          };
          pending.then(done, done);
        } else {
          this.finished(key);
        }
      }
    } finally {
      this.pumping = false;
    }
    this.notifyIfIdle();
  }

  private finished(key: K): void {
    this.running.delete(key);
    if (this.waiting.has(key)) this.ready.add(key);
  }

  private notifyIfIdle(): void {
    if (!this.isIdle() || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

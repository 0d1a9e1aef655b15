import { mergePushRequests } from './push-request';
import type { PushRequest } from './push-request';

/**
 * Pushes waiting for their connection, with at most `concurrency` running at once. Each connection has at most
 * one waiting push: a new one merges into it (the queue never grows past the number of connections, however many
 * pushes are requested), and a push for a connection that is still being pushed waits until that push is done.
 * Connections are served first come, first served.
 */
export class PushQueue<K> {
  private readonly waiting = new Map<K, PushRequest>();
  /** Keys with a waiting push and no running one, in arrival order (a Set iterates in insertion order). */
  private readonly ready = new Set<K>();
  private readonly running = new Set<K>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly run: (key: K, request: PushRequest) => Promise<void>,
  ) {
    if (!(concurrency >= 1)) throw new Error(`push concurrency must be at least 1, got ${concurrency}`);
  }

  enqueue(key: K, request: PushRequest): void {
    const existing = this.waiting.get(key);
    this.waiting.set(key, existing ? mergePushRequests(existing, request) : request);
    if (!this.running.has(key)) this.ready.add(key);
    this.pump();
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
    while (this.running.size < this.concurrency && this.ready.size > 0) {
      const key = this.ready.values().next().value as K;
      this.ready.delete(key);
      const request = this.waiting.get(key);
      this.waiting.delete(key);
      if (!request) continue;
      this.running.add(key);
      // `run` reports its own errors; a rejection here must still free the slot.
      const done = () => {
        this.running.delete(key);
        if (this.waiting.has(key)) this.ready.add(key);
        this.pump();
        this.notifyIfIdle();
      };
      void this.run(key, request).then(done, done);
    }
  }

  private notifyIfIdle(): void {
    if (!this.isIdle() || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

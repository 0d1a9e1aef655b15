import type { MaybePromise } from './maybe-async';
import { mergePushRequests } from './push-request';
import type { PushRequest } from './push-request';

/** One key's place in the queue, kept while the key is known (a push to thousands of keys allocates no entries). */
interface Slot<K> {
  readonly key: K;
  /** The push waiting for this key (merged from all that came since the last one started). */
  request: PushRequest | undefined;
  running: boolean;
  /** Whether the slot is in the ready list. */
  listed: boolean;
  /** The key was removed while its push ran: the slot goes when that push ends. */
  removed: boolean;
}

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
  private readonly slots = new Map<K, Slot<K>>();
  /** Slots with a waiting push and none running, in arrival order, from `readyHead` on. */
  private ready: Slot<K>[] = [];
  private readyHead = 0;
  private waiting = 0;
  private running = 0;
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
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { key, request: undefined, running: false, listed: false, removed: false };
      this.slots.set(key, slot);
    }
    slot.removed = false;
    if (slot.request) {
      slot.request = mergePushRequests(slot.request, request);
    } else {
      slot.request = request;
      this.waiting++;
    }
    if (!slot.running) this.list(slot);
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Forgets a key (its connection closed): its waiting push is dropped; a running push finishes on its own. */
  remove(key: K): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    // A running push keeps its slot until it ends, so a push enqueued for the key meanwhile waits for it.
    if (slot.running) slot.removed = true;
    else this.slots.delete(key);
    if (slot.request) {
      slot.request = undefined;
      this.waiting--;
    }
    this.notifyIfIdle();
  }

  get waitingCount(): number {
    return this.waiting;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.waiting === 0 && this.running === 0;
  }

  private list(slot: Slot<K>): void {
    if (slot.listed) return;
    slot.listed = true;
    this.ready.push(slot);
  }

  private pump(): void {
    // A push that enqueues (or finishes) while the loop below runs is picked up by the loop itself.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.running < this.concurrency && this.readyHead < this.ready.length) {
        const slot = this.ready[this.readyHead++];
        slot.listed = false;
        const request = slot.request;
        // Removed since it was listed.
        if (!request) continue;
        slot.request = undefined;
        this.waiting--;
        slot.running = true;
        this.running++;
        let pending: MaybePromise<void>;
        try {
          pending = this.run(slot.key, request);
        } catch {
          // `run` reports its own errors; a throw here must still free the slot.
          pending = undefined;
        }
        if (pending instanceof Promise) {
          const done = () => {
            this.finished(slot);
            this.pump();
          };
          pending.then(done, done);
        } else {
          this.finished(slot);
        }
      }
      if (this.readyHead === this.ready.length) {
        this.ready = [];
        this.readyHead = 0;
      } else if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready = this.ready.slice(this.readyHead);
        this.readyHead = 0;
      }
    } finally {
      this.pumping = false;
    }
    this.notifyIfIdle();
  }

  private finished(slot: Slot<K>): void {
    slot.running = false;
    this.running--;
    if (slot.request) this.list(slot);
    else if (slot.removed) this.slots.delete(slot.key);
  }

  private notifyIfIdle(): void {
    if (!this.isIdle() || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

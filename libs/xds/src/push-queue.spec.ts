import { PushQueue } from './push-queue';
import { mergePushRequests, pushRequest } from './push-request';
import type { PushRequest } from './push-request';
import type { ConnectionInfo } from './types';

describe('PushQueue', () => {
  it('runs at most `concurrency` pushes, one per key at a time, merging what waits for a key', async () => {
    const gates = new Map<string, () => void>();
    const runs: { key: string; request: PushRequest }[] = [];
    const queue = new PushQueue<string>(2, (key, request) => {
      runs.push({ key, request });
      return new Promise<void>((resolve) => gates.set(key, resolve));
    });
    const release = async (key: string) => {
      gates.get(key)!();
      gates.delete(key);
      await new Promise((r) => setImmediate(r));
    };

    queue.enqueue('a', pushRequest({ full: false, types: ['cds'], reason: 'config' }));
    queue.enqueue('b', pushRequest({ full: false, types: ['cds'], reason: 'config' }));
    queue.enqueue('c', pushRequest({ full: false, types: ['cds'], reason: 'config' }));
    // Pushes start after the code that enqueued them, not inside it.
    expect(runs).toEqual([]);
    await Promise.resolve();
    expect(runs.map((r) => r.key)).toEqual(['a', 'b']);
    expect(queue.runningCount).toBe(2);

    // Ten more pushes for a (running) and c (waiting): each merges into one waiting push per key.
    for (let i = 0; i < 10; i++) {
      queue.enqueue('a', pushRequest({ full: false, types: ['eds'], reason: 'endpoint' }));
      queue.enqueue('c', pushRequest({ full: i === 9, types: ['lds'], reason: 'config' }));
    }
    expect(queue.waitingCount).toBe(2);

    await release('a');
    expect(runs.map((r) => r.key)).toEqual(['a', 'b', 'c']);
    const c = runs[2].request;
    expect(c.full).toBe(true);
    expect([...c.types].sort()).toEqual(['cds', 'lds']);
    expect(c.reasons.get('config')).toBe(11);

    await release('b');
    expect(runs.map((r) => r.key)).toEqual(['a', 'b', 'c', 'a']);
    expect([...runs[3].request.types]).toEqual(['eds']);
    expect(runs[3].request.reasons.get('endpoint')).toBe(10);

    const idle = queue.idle();
    await release('c');
    await release('a');
    await idle;
    expect(runs).toHaveLength(4);
  });

  it('runs pushes that finish at once back to back, within the concurrency, in arrival order', async () => {
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const slow = new Map<string, () => void>();
    const queue = new PushQueue<string>(3, (key) => {
      running++;
      most = Math.max(most, running);
      order.push(key);
      if (key.startsWith('slow')) {
        return new Promise<void>((resolve) =>
          slow.set(key, () => {
            running--;
            resolve();
          }),
        );
      }
      running--;
      return undefined;
    });
    const keys = ['slow-1', ...Array.from({ length: 5000 }, (_, i) => `k${i}`), 'slow-2', 'slow-3', 'last'];
    for (const key of keys)
      queue.enqueue(key, pushRequest({ full: false, types: ['eds'], reason: 'endpoint' }));
    await Promise.resolve();
    // Everything up to the third slow push ran in one go (a loop, not 5,000 nested calls); the slow ones hold
    // their slots, so 'last' waits for one of them.
    expect(order).toEqual(keys.slice(0, -1));
    expect(most).toBe(3);
    expect(queue.runningCount).toBe(3);
    slow.get('slow-2')!();
    await new Promise((r) => setImmediate(r));
    expect(order.at(-1)).toBe('last');
    slow.get('slow-1')!();
    slow.get('slow-3')!();
    await queue.idle();
    expect(order).toEqual(keys);
  });

  it('keeps a removed key that is being pushed until its push ends: a new push for it waits', async () => {
    const gates: (() => void)[] = [];
    const runs: string[] = [];
    const queue = new PushQueue<string>(5, (key) => {
      runs.push(key);
      return new Promise<void>((resolve) => gates.push(resolve));
    });
    queue.enqueue('a', pushRequest({ full: true, reason: 'test' }));
    await Promise.resolve();
    expect(runs).toEqual(['a']);
    queue.remove('a');
    queue.enqueue('a', pushRequest({ full: true, reason: 'test' }));
    await Promise.resolve();
    // Not a second push of 'a' at the same time.
    expect(runs).toEqual(['a']);
    expect(queue.waitingCount).toBe(1);
    gates[0]();
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual(['a', 'a']);
    gates[1]();
    await queue.idle();
    expect(queue.runningCount).toBe(0);
  });

  it('forgets a removed key and survives a failing run', async () => {
    const ran: string[] = [];
    const queue = new PushQueue<string>(1, async (key) => {
      ran.push(key);
      if (key === 'x') throw new Error('boom');
    });
    queue.enqueue('x', pushRequest({ full: true, reason: 'test' }));
    queue.enqueue('y', pushRequest({ full: true, reason: 'test' }));
    queue.enqueue('z', pushRequest({ full: true, reason: 'test' }));
    queue.remove('y');
    await queue.idle();
    expect(ran).toEqual(['x', 'z']);
  });
});

describe('merging pushes', () => {
  it('keeps a storm of scoped pushes bounded: a few scopes are unioned, many become "everyone"', () => {
    const few = Array.from({ length: 3 }, (_, i) =>
      pushRequest({ full: false, types: ['eds'], reason: 'endpoint', scope: (c) => c.id === `n${i}` }),
    );
    const mergedFew = few.reduce(mergePushRequests);
    const conn = (id: string) => ({ id }) as ConnectionInfo;
    expect(mergedFew.scope?.(conn('n2'))).toBe(true);
    expect(mergedFew.scope?.(conn('n9'))).toBe(false);

    let merged = few[0];
    for (let i = 0; i < 100_000; i++) {
      merged = mergePushRequests(
        merged,
        pushRequest({ full: false, types: ['eds'], reason: 'endpoint', scope: (c) => c.id === `m${i}` }),
      );
    }
    expect(merged.scope).toBeUndefined();
    expect([...merged.types]).toEqual(['eds']);
    expect(merged.reasons.get('endpoint')).toBe(100_001);
  });
});

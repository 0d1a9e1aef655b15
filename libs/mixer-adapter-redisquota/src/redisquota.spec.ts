import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { AdapterHarness, Code } from '@flotilla/mixer-adapter-sdk';
import type { QuotaHandler } from '@flotilla/mixer-adapter-sdk';
import { freePorts, waitFor } from '@flotilla/testing';
import { Redis } from 'ioredis';
import { parseRedisAddress, redisquotaAdapter } from './redisquota';

/** A real redis-server on a free port, without persistence. */
class RedisServer {
  private child?: ChildProcess;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const probe = new Redis({
      port: this.port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => undefined);
    await waitFor(
      'redis-server to answer PING',
      async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      },
      10_000,
      50,
    );
    probe.disconnect();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

const INSTANCE = 'requestcount.istio-system';

describe('redisquota adapter (real redis-server)', () => {
  let server: RedisServer;
  let url: string;
  let client: Redis;
  const harnesses: AdapterHarness<unknown, QuotaHandler>[] = [];

  const start = async (quota: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const h = (await AdapterHarness.start(redisquotaAdapter, {
      redisServerUrl: url,
      quotas: [{ name: 'requestcount.quota.istio-system', ...quota }],
      ...extra,
    })) as AdapterHarness<unknown, QuotaHandler>;
    harnesses.push(h);
    await waitFor(
      'the handler to connect',
      async () =>
        (await h.quota({ dimensions: { probe: String(Math.random()) } }, {}, INSTANCE)).status.code ===
        Code.OK,
    );
    return h;
  };

  beforeAll(async () => {
    const [port] = await freePorts(1);
    server = new RedisServer(port);
    await server.start();
    url = `127.0.0.1:${port}`;
    client = new Redis({ port, host: '127.0.0.1' });
  });

  afterAll(async () => {
    for (const h of harnesses) await h.close();
    client.disconnect();
    await server.stop();
  });

  it('admits exactly maxAmount per FIXED_WINDOW across two handlers (two mixer replicas) racing', async () => {
    const q = { maxAmount: 50, validDuration: '60s', rateLimitAlgorithm: 'FIXED_WINDOW' };
    const [a, b] = [await start(q), await start(q)];
    const dims = { destination: 'race' };
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) => (i % 2 ? a : b).quota({ dimensions: dims }, {}, INSTANCE)),
    );
    expect(results.reduce((s, r) => s + r.amount, 0)).toBe(50);
    const refused = results.filter((r) => r.amount === 0);
    expect(refused).toHaveLength(100);
    expect(refused[0].status.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(refused[0].limit).toBe(50);
    expect(refused[0].validDurationMs).toBeGreaterThan(0); // time until the window resets
    expect(refused[0].validDurationMs).toBeLessThanOrEqual(60_000);
  });

  it('writes keys that expire, so idle buckets do not accumulate', async () => {
    const h = await start({ maxAmount: 5, validDuration: '2s' });
    await h.quota({ dimensions: { destination: 'ttl' } }, {}, INSTANCE);
    const keys = await client.keys('flotilla:quota:*destination=ttl*');
    expect(keys).toHaveLength(1);
    const ttl = await client.pttl(keys[0]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3000);
  });

  it('forgets a ROLLING_WINDOW allocation once the window has moved past it', async () => {
    const h = await start({
      maxAmount: 3,
      validDuration: '600ms',
      bucketDuration: '100ms',
      rateLimitAlgorithm: 'ROLLING_WINDOW',
    });
    const dims = { destination: 'rolling' };
    const first = await Promise.all([1, 2, 3, 4].map(() => h.quota({ dimensions: dims }, {}, INSTANCE)));
    expect(first.map((r) => r.amount).sort()).toEqual([0, 1, 1, 1]);
    await new Promise((r) => setTimeout(r, 750));
    expect((await h.quota({ dimensions: dims }, {}, INSTANCE)).amount).toBe(1);
  });

  it('applies overrides by dimensions, and grants best-effort requests what is left', async () => {
    const h = await start({
      maxAmount: 10,
      validDuration: '60s',
      overrides: [{ dimensions: { destination: 'small' }, maxAmount: 2 }],
    });
    expect((await h.quota({ dimensions: { destination: 'small' } }, { amount: 3 }, INSTANCE)).amount).toBe(0);
    expect(
      (await h.quota({ dimensions: { destination: 'small' } }, { amount: 3, bestEffort: true }, INSTANCE))
        .amount,
    ).toBe(2);
    expect((await h.quota({ dimensions: { destination: 'large' } }, { amount: 3 }, INSTANCE)).amount).toBe(3);
  });

  it('fails closed (UNAVAILABLE) or open (granted) when Redis stops mid-test, counting each in a metric', async () => {
    const closed = await start({ maxAmount: 10, validDuration: '60s' });
    const open = await start({ maxAmount: 10, validDuration: '60s' }, { failOpen: true });
    await server.stop();
    await waitFor(
      'the handlers to notice',
      async () => (await closed.quota({ dimensions: {} }, {}, INSTANCE)).status.code === Code.UNAVAILABLE,
    );
    const refused = await closed.quota({ dimensions: {} }, {}, INSTANCE);
    expect(refused).toMatchObject({
      amount: 0,
      status: { code: Code.UNAVAILABLE, message: expect.stringMatching(/Redis unavailable/) },
    });
    const granted = await open.quota({ dimensions: {} }, { amount: 4 }, INSTANCE);
    expect(granted).toMatchObject({ amount: 4, status: { code: Code.OK } });
    expect(
      closed.metrics.counts.get(
        'mixer_redisquota_unavailable_total{handler="handler.test",outcome="refused"}',
      ),
    ).toBeGreaterThan(0);
    expect(
      open.metrics.counts.get('mixer_redisquota_unavailable_total{handler="handler.test",outcome="granted"}'),
    ).toBe(1);
    // And they recover when Redis is back.
    await server.start();
    await waitFor(
      'the handler to reconnect',
      async () => (await closed.quota({ dimensions: {} }, {}, INSTANCE)).status.code === Code.OK,
      10_000,
    );
  });
});

describe('redisquota params', () => {
  it('reads Istio-style addresses', () => {
    expect(parseRedisAddress('redis:6379')).toEqual({ host: 'redis', port: 6379 });
    expect(parseRedisAddress('redis://10.0.0.1:7000')).toEqual({ host: '10.0.0.1', port: 7000 });
    expect(parseRedisAddress('[::1]:6380')).toEqual({ host: '::1', port: 6380 });
    expect(parseRedisAddress('a b')).toBeUndefined();
  });

  it('requires a window and sane rolling buckets', () => {
    expect(() =>
      redisquotaAdapter.validate({
        redisServerUrl: 'r:1',
        quotas: [
          { name: 'a', maxAmount: 1 },
          {
            name: 'b',
            maxAmount: 1,
            validDuration: '1s',
            rateLimitAlgorithm: 'ROLLING_WINDOW',
            bucketDuration: '2s',
          },
        ],
      }),
    ).toThrow(
      'quotas[0].validDuration: required (redisquota limits per window); quotas[1].bucketDuration: must not exceed validDuration',
    );
  });
});

import {
  Code,
  ParamsReader,
  bucketKey,
  defineAdapter,
  effectiveLimit,
  instanceNameMatches,
  quotaExhausted,
  quotaGranted,
  readQuotaLimits,
  status,
} from '@flotilla/mixer-adapter-sdk';
import type {
  QuotaArgs,
  QuotaHandler,
  QuotaInstance,
  QuotaLimit,
  QuotaResult,
} from '@flotilla/mixer-adapter-sdk';
import { Redis } from 'ioredis';

export type RateLimitAlgorithm = 'FIXED_WINDOW' | 'ROLLING_WINDOW';

export interface RedisQuotaLimit extends QuotaLimit {
  readonly algorithm: RateLimitAlgorithm;
  /** ROLLING_WINDOW: the window is counted in buckets this long. */
  readonly bucketDurationMs: number;
}

export interface RedisQuotaParams {
  readonly host: string;
  readonly port: number;
  readonly quotas: readonly RedisQuotaLimit[];
  /** When Redis cannot be reached: grant (true) or refuse with UNAVAILABLE (false, the default). */
  readonly failOpen: boolean;
  readonly connectTimeoutMs: number;
  /** Prefix of every key this adapter writes. */
  readonly keyPrefix: string;
}

/**
 * FIXED_WINDOW: one hash per bucket key holding the window's start (s) and the amount used in it (n). Time is
 * Redis's own (TIME), so replicas with skewed clocks still share windows. The key expires one window after its
 * last use, so idle buckets disappear.
 *   KEYS[1] bucket; ARGV amount, max, windowMs, bestEffort(0/1)
 *   → { granted, remaining, msUntilReset }
 */
const FIXED_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local start = now - (now % window)
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '-1')
local used = 0
if s == start then used = tonumber(redis.call('HGET', KEYS[1], 'n') or '0') end
local grant = 0
if used + amount <= max then grant = amount elseif ARGV[4] == '1' then grant = math.max(0, max - used) end
if s ~= start then redis.call('HSET', KEYS[1], 's', start, 'n', 0) end
if grant > 0 then redis.call('HINCRBY', KEYS[1], 'n', grant) end
redis.call('PEXPIRE', KEYS[1], start + window - now + 1000)
return { grant, max - used - grant, start + window - now }
`;

/**
 * ROLLING_WINDOW: one hash per bucket key, a field per bucket (its start) holding the amount used in it. Buckets
 * older than the window are deleted on each call; the window's use is the sum of the rest.
 *   KEYS[1] bucket; ARGV amount, max, windowMs, bucketMs, bestEffort(0/1)
 *   → { granted, remaining, msUntilSomeQuotaFrees }
 */
const ROLLING_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local bucket = tonumber(ARGV[4])
local current = now - (now % bucket)
local oldestLive = current - window + bucket
local fields = redis.call('HGETALL', KEYS[1])
local used = 0
local oldest = current
for i = 1, #fields, 2 do
  local b = tonumber(fields[i])
  if b < oldestLive then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    used = used + tonumber(fields[i + 1])
    if b < oldest then oldest = b end
  end
end
local grant = 0
if used + amount <= max then grant = amount elseif ARGV[5] == '1' then grant = math.max(0, max - used) end
if grant > 0 then redis.call('HINCRBY', KEYS[1], tostring(current), grant) end
redis.call('PEXPIRE', KEYS[1], window + bucket)
return { grant, max - used - grant, oldest + window - now }
`;

interface ScriptedRedis extends Redis {
  fixedWindow(
    key: string,
    amount: number,
    max: number,
    windowMs: number,
    bestEffort: number,
  ): Promise<number[]>;
  rollingWindow(
    key: string,
    amount: number,
    max: number,
    windowMs: number,
    bucketMs: number,
    bestEffort: number,
  ): Promise<number[]>;
}

/** "redis:6379", "redis://10.0.0.1:6379", "[::1]:6379" → host and port. */
export function parseRedisAddress(text: string): { host: string; port: number } | undefined {
  const m = /^(?:redis:\/\/)?(\[[^\]]+\]|[^:/\s]+)(?::(\d+))?\/?$/.exec(text.trim());
  if (!m) return undefined;
  const port = m[2] ? Number(m[2]) : 6379;
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/**
 * redisquota (Istio 1.4 mixer/adapter/redisquota): quota counted in Redis, shared by every mixer replica, so N
 * per window is admitted exactly once however many replicas allocate. Each allocation is one atomic Lua script
 * (no read-then-write race between replicas), windows follow Redis's clock, and every key expires once its
 * window has passed. When Redis is unreachable the handler fails closed (UNAVAILABLE) unless `failOpen`, and
 * counts each such answer in mixer_redisquota_unavailable_total{handler, outcome}.
 */
export const redisquotaAdapter = defineAdapter<RedisQuotaParams, QuotaHandler>({
  name: 'redisquota',
  description: 'quota shared through Redis (fixed or rolling windows)',
  templates: ['quota'],
  validate(raw) {
    const p = new ParamsReader(raw).only(
      'redisServerUrl',
      'connectionPoolSize',
      'quotas',
      'failOpen',
      'connectTimeout',
      'keyPrefix',
    );
    const url = p.string('redisServerUrl', '');
    const address = parseRedisAddress(url);
    if (!address) p.problem('redisServerUrl', `expected host:port, got ${JSON.stringify(url)}`);
    p.number('connectionPoolSize', 10); // accepted for Istio compatibility; one pipelined connection serves all
    const extras = new Map<number, { algorithm: RateLimitAlgorithm; bucketDurationMs: number }>();
    let i = 0;
    const quotas = readQuotaLimits(
      p,
      (q) => {
        const algorithm = q.oneOf(
          'rateLimitAlgorithm',
          ['FIXED_WINDOW', 'ROLLING_WINDOW'] as const,
          'FIXED_WINDOW',
        );
        const bucketDurationMs = q.durationMs('bucketDuration', 0);
        extras.set(i++, { algorithm, bucketDurationMs });
      },
      ['rateLimitAlgorithm', 'bucketDuration'],
    ).map((q, index): RedisQuotaLimit => {
      const e = extras.get(index)!;
      const where = `quotas[${index}]`;
      if (q.validDurationMs <= 0)
        p.problems.push(`${where}.validDuration: required (redisquota limits per window)`);
      for (const o of q.overrides)
        if (o.validDurationMs !== q.validDurationMs)
          p.problems.push(`${where}.overrides: an override cannot change validDuration in redisquota`);
      let bucketDurationMs = e.bucketDurationMs;
      if (e.algorithm === 'ROLLING_WINDOW') {
        if (bucketDurationMs <= 0) bucketDurationMs = Math.max(1, q.validDurationMs / 10);
        if (bucketDurationMs > q.validDurationMs)
          p.problems.push(`${where}.bucketDuration: must not exceed validDuration`);
        else if (q.validDurationMs / bucketDurationMs > 1000)
          p.problems.push(`${where}.bucketDuration: at most 1000 buckets per window`);
      }
      return { ...q, algorithm: e.algorithm, bucketDurationMs };
    });
    const failOpen = p.boolean('failOpen', false);
    const connectTimeoutMs = p.durationMs('connectTimeout', 1000);
    const keyPrefix = p.string('keyPrefix', 'flotilla:quota:');
    p.done();
    return {
      host: address?.host ?? '',
      port: address?.port ?? 0,
      quotas,
      failOpen,
      connectTimeoutMs,
      keyPrefix,
    };
  },
  async build(params, env) {
    const redis = new Redis({
      host: params.host,
      port: params.port,
      connectTimeout: params.connectTimeoutMs,
      // Fail fast while Redis is down instead of queueing allocations that would be answered late.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 100, 2000),
      lazyConnect: true,
    }) as ScriptedRedis;
    redis.defineCommand('fixedWindow', { numberOfKeys: 1, lua: FIXED_WINDOW });
    redis.defineCommand('rollingWindow', { numberOfKeys: 1, lua: ROLLING_WINDOW });
    redis.on('error', (err: Error) =>
      env.logger.debug({ handler: env.handlerName, err: err.message }, 'redis error'),
    );
    // The first connection is awaited (bounded by connectTimeout) so a mixer starting with Redis up answers from
    // Redis at once; if Redis is down, the handler starts anyway and the fail mode applies until it reconnects.
    await redis
      .connect()
      .catch((err: Error) =>
        env.logger.warn({ handler: env.handlerName, err: err.message }, 'redis not reachable yet'),
      );
    const unavailable = env.metrics?.counter(
      'mixer_redisquota_unavailable_total',
      'Quota allocations answered without Redis (outcome: granted when failing open, refused when failing closed)',
      ['handler', 'outcome'],
    );

    const allocate = async (instance: QuotaInstance, args: QuotaArgs): Promise<QuotaResult> => {
      const limit = params.quotas.find((q) => instanceNameMatches(q.name, instance.name));
      if (!limit) return quotaGranted(args.amount, 60_000);
      const { maxAmount, validDurationMs } = effectiveLimit(limit, instance.dimensions);
      const key = params.keyPrefix + bucketKey(instance.name, instance.dimensions);
      const bestEffort = args.bestEffort ? 1 : 0;
      let reply: number[];
      try {
        reply =
          limit.algorithm === 'FIXED_WINDOW'
            ? await redis.fixedWindow(key, args.amount, maxAmount, validDurationMs, bestEffort)
            : await redis.rollingWindow(
                key,
                args.amount,
                maxAmount,
                validDurationMs,
                limit.bucketDurationMs,
                bestEffort,
              );
      } catch (err) {
        unavailable?.inc({ handler: env.handlerName, outcome: params.failOpen ? 'granted' : 'refused' });
        if (params.failOpen) return quotaGranted(args.amount, 1000);
        return {
          status: status(Code.UNAVAILABLE, `redisquota: Redis unavailable: ${(err as Error).message}`),
          amount: 0,
          validDurationMs: 0,
        };
      }
      const [granted, remaining, msUntilReset] = reply.map(Number);
      const facts = { limit: maxAmount, remaining: Math.max(0, remaining), windowMs: validDurationMs };
      if (granted <= 0)
        return quotaExhausted(`quota ${instance.name} exhausted`, Math.max(0, msUntilReset), facts);
      return quotaGranted(granted, Math.max(0, msUntilReset), facts);
    };

    return {
      handleQuota: allocate,
      async close() {
        redis.disconnect();
      },
    };
  },
});

export { parseRedisAddress, redisquotaAdapter } from './redisquota';
export type { RateLimitAlgorithm, RedisQuotaLimit, RedisQuotaParams } from './redisquota';

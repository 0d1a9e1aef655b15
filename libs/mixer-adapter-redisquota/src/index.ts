export { parseRedisAddress, redisquotaAdapter } from './redisquota';
export type { RateLimitAlgorithm, RedisQuotaLimit, RedisQuotaParams } from './redisquota';
// Also exported as `adapter`, the name mixer looks for when a handler names this package (third-party loading).
export { redisquotaAdapter as adapter } from './redisquota';

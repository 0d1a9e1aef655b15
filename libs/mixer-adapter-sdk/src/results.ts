import { Code, OK, status } from './status';
import type { CheckResult, QuotaResult } from './templates';

/** Istio 1.4 mixer's defaults for a passing check that no adapter narrowed: one minute, 10,000 uses. */
export const DEFAULT_VALID_DURATION_MS = 60_000;
export const DEFAULT_VALID_USE_COUNT = 10_000;

export function checkOk(
  validDurationMs = DEFAULT_VALID_DURATION_MS,
  validUseCount = DEFAULT_VALID_USE_COUNT,
): CheckResult {
  return { status: OK, validDurationMs, validUseCount };
}

export function checkDenied(
  message: string,
  code: number = Code.PERMISSION_DENIED,
  validDurationMs = DEFAULT_VALID_DURATION_MS,
  validUseCount = DEFAULT_VALID_USE_COUNT,
): CheckResult {
  return { status: status(code, message), validDurationMs, validUseCount };
}

/** Optional facts about the bucket: its limit, what is left, its window. */
export interface BucketFacts {
  readonly limit?: number;
  readonly remaining?: number;
  readonly windowMs?: number;
}

export function quotaGranted(amount: number, validDurationMs: number, facts: BucketFacts = {}): QuotaResult {
  return { status: OK, amount, validDurationMs, ...facts };
}

export function quotaExhausted(
  message: string,
  validDurationMs: number,
  facts: BucketFacts = {},
): QuotaResult {
  return {
    status: status(Code.RESOURCE_EXHAUSTED, message),
    amount: 0,
    validDurationMs,
    remaining: 0,
    ...facts,
  };
}

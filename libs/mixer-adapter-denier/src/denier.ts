import { Code, ParamsReader, defineAdapter, status } from '@flotilla/mixer-adapter-sdk';
import type {
  CheckNothingHandler,
  CheckResult,
  ListEntryHandler,
  QuotaHandler,
  QuotaResult,
  Status,
} from '@flotilla/mixer-adapter-sdk';

export interface DenierParams {
  /** The status every check answers with (Istio's default: FAILED_PRECONDITION). */
  readonly status: Status;
  readonly validDurationMs: number;
  readonly validUseCount: number;
}

export type DenierHandler = CheckNothingHandler & ListEntryHandler & QuotaHandler;

/**
 * denier (Istio 1.4 mixer/adapter/denier): answers every check with the configured status, and refuses every
 * quota. Paired with a checknothing instance and a rule's match, it blocks what the match selects.
 *
 *   params:
 *     status: { code: 7, message: "banned user" }
 *     validDuration: 5s
 *     validUseCount: 1000
 */
export const denierAdapter = defineAdapter<DenierParams, DenierHandler>({
  name: 'denier',
  description: 'rejects every check with a configured status',
  templates: ['checknothing', 'listentry', 'quota'],
  validate(raw) {
    const p = new ParamsReader(raw).only('status', 'validDuration', 'validUseCount');
    const s = new ParamsReader(p.has('status') ? (raw as Record<string, unknown>).status : {}, 'status').only(
      'code',
      'message',
      'details',
    );
    const code = s.number('code', Code.FAILED_PRECONDITION, (n) =>
      Number.isInteger(n) && n >= 0 && n <= 16 ? undefined : 'must be a google.rpc.Code (0-16)',
    );
    const message = s.string('message', '');
    p.problems.push(...s.problems);
    const validDurationMs = p.durationMs('validDuration', 5000);
    const validUseCount = p.number('validUseCount', 1000, (n) =>
      Number.isInteger(n) && n >= 0 ? undefined : 'must be a whole number',
    );
    p.done();
    return { status: status(code, message), validDurationMs, validUseCount };
  },
  async build(params) {
    const result: CheckResult = {
      status: params.status,
      validDurationMs: params.validDurationMs,
      validUseCount: params.validUseCount,
    };
    const quota: QuotaResult = {
      status:
        params.status.code === Code.OK
          ? status(Code.RESOURCE_EXHAUSTED, params.status.message)
          : params.status,
      amount: 0,
      validDurationMs: params.validDurationMs,
    };
    return {
      handleCheckNothing: async () => result,
      handleListEntry: async () => result,
      handleQuota: async () => quota,
      close: async () => undefined,
    };
  },
});

/**
 * istio.mixer.v1.Mixer: Check (preconditions, then quotas) and Report (batched attribute sets), as Istio 1.4's
 * Envoy mixer filter and mixer clients call them.
 */
import { Code } from '@flotilla/mixer-adapter-sdk';
import type { Value } from '@flotilla/mixer-adapter-sdk';
import { mixerCheck, mixerReport } from '@flotilla/proto';
import type { mixerService } from '@flotilla/proto';
import type { ReferenceTracker } from '../attributes/bag';
import { ReferenceTracker as Tracker } from '../attributes/bag';
import { WordEncoder, WordTable, decodeAttributes } from '../attributes/compressed';
import type { MixerRuntime } from '../dispatch/runtime';
import { BadRequestError, unary } from './errors';
import type { ErrorLogger } from './errors';
import { durationOf, headerOperation } from './convert';

const MAX_QUOTAS = 64;

/** Turns what a decision looked at into ReferencedAttributes, words encoded against the client's dictionary. */
export function referencedAttributes(
  refs: ReferenceTracker,
  globalWordCount: number,
): mixerCheck.ReferencedAttributes {
  const encoder = new WordEncoder(globalWordCount);
  const matches: mixerCheck.ReferencedAttributes_AttributeMatch[] = [];
  const condition = (c: 'EXACT' | 'ABSENCE') =>
    c === 'EXACT'
      ? mixerCheck.ReferencedAttributes_Condition.EXACT
      : mixerCheck.ReferencedAttributes_Condition.ABSENCE;
  for (const [name, c] of refs.attributes) {
    matches.push(
      mixerCheck.ReferencedAttributes_AttributeMatch.fromPartial({
        name: encoder.index(name),
        condition: condition(c),
      }),
    );
  }
  for (const [name, keys] of refs.mapKeys) {
    if (refs.attributes.get(name) === 'EXACT') continue; // the whole map is already the key
    if (refs.attributes.get(name) === 'ABSENCE' && keys.size === 0) continue;
    for (const [key, c] of keys) {
      matches.push(
        mixerCheck.ReferencedAttributes_AttributeMatch.fromPartial({
          name: encoder.index(name),
          condition: condition(c),
          // map_key 0 reads as "no key" to Istio's clients, so a key that is global word 0 travels as a message word.
          mapKey: encoder.indexNotZero(key),
        }),
      );
    }
  }
  return mixerCheck.ReferencedAttributes.fromPartial({ words: encoder.words, attributeMatches: matches });
}

export function mixerCheckHandler(runtime: MixerRuntime) {
  return async (req: mixerCheck.CheckRequest): Promise<mixerCheck.CheckResponse> => {
    if (!req.attributes) throw new BadRequestError('CheckRequest.attributes is required');
    const quotaNames = Object.keys(req.quotas ?? {});
    if (quotaNames.length > MAX_QUOTAS) throw new BadRequestError(`at most ${MAX_QUOTAS} quotas per Check`);
    const words = new WordTable(req.attributes.words, req.globalWordCount);
    const bag = decodeAttributes(req.attributes, words);
    const refs = new Tracker();
    const outcome = await runtime.check(bag, refs);
    const precondition = mixerCheck.CheckResponse_PreconditionResult.fromPartial({
      status: { code: outcome.status.code, message: outcome.status.message },
      validDuration: durationOf(outcome.validDurationMs),
      validUseCount: outcome.validUseCount,
      referencedAttributes: referencedAttributes(refs, req.globalWordCount),
      routeDirective: {
        requestHeaderOperations: outcome.requestHeaderOperations.map(headerOperation),
        responseHeaderOperations: outcome.responseHeaderOperations.map(headerOperation),
      },
    });
    const quotas: Record<string, mixerCheck.CheckResponse_QuotaResult> = {};
    // Istio allocates quota only for requests whose preconditions passed.
    if (outcome.status.code === Code.OK) {
      await Promise.all(
        quotaNames.map(async (name) => {
          const params = req.quotas[name];
          const amount = Number(params.amount ?? 0);
          if (!Number.isSafeInteger(amount) || amount < 0)
            throw new BadRequestError(`quota ${name}: amount must be a non-negative integer`);
          const qrefs = new Tracker();
          const result = await runtime.quota(
            bag,
            name,
            {
              amount,
              bestEffort: !!params.bestEffort,
              deduplicationId: req.deduplicationId ? `${req.deduplicationId}/${name}` : '',
            },
            qrefs,
          );
          quotas[name] = mixerCheck.CheckResponse_QuotaResult.fromPartial({
            validDuration: durationOf(result.validDurationMs),
            grantedAmount: result.amount,
            status: { code: result.status.code, message: result.status.message },
            referencedAttributes: referencedAttributes(qrefs, req.globalWordCount),
          });
        }),
      );
    }
    return mixerCheck.CheckResponse.fromPartial({ precondition, quotas });
  };
}

export function mixerReportHandler(runtime: MixerRuntime) {
  return async (req: mixerReport.ReportRequest): Promise<mixerReport.ReportResponse> => {
    const delta =
      req.repeatedAttributesSemantics !==
      mixerReport.ReportRequest_RepeatedAttributesSemantics.INDEPENDENT_ENCODING;
    const bags: Map<string, Value>[] = [];
    let previous: Map<string, Value> | undefined;
    req.attributes.forEach((entry, i) => {
      const words = new WordTable(
        entry.words.length > 0 ? entry.words : req.defaultWords,
        req.globalWordCount,
      );
      try {
        const bag = decodeAttributes(entry, words, delta && previous ? new Map(previous) : new Map());
        bags.push(bag);
        previous = bag;
      } catch (err) {
        (err as Error).message = `attributes[${i}]: ${(err as Error).message}`;
        throw err;
      }
    });
    await runtime.report(bags);
    return mixerReport.ReportResponse.fromPartial({});
  };
}

/** The implementation to add with `server.addService(mixerService.MixerService, ...)`. */
export function mixerServiceImplementation(
  runtime: MixerRuntime,
  logger: ErrorLogger,
): mixerService.MixerServer {
  return {
    check: unary('istio.mixer.v1.Mixer/Check', logger, mixerCheckHandler(runtime)),
    report: unary('istio.mixer.v1.Mixer/Report', logger, mixerReportHandler(runtime)),
  } as unknown as mixerService.MixerServer;
}

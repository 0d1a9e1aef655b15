// telemetry.istio.io Telemetry.
import { arr, boolValue, doubleValue, enumOf, map, obj, str } from '../build';
import type { Schema } from '../types';
import { duration, selectorOrTargets, targetRef, targetRefs, workloadSelector } from './shared';

const providers = (): Schema => arr(obj({ name: str({ minLength: 1 }) }, { required: ['name'] }));
const mode = (): Schema => enumOf(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER']);

const METRICS = [
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
];

const tagOverride = (): Schema =>
  obj(
    { operation: enumOf(['UPSERT', 'REMOVE']), value: str() },
    {
      rules: [
        {
          message: 'value must be set when operation is UPSERT',
          cel: '((has(self.operation) ? self.operation : "") == "UPSERT") ? (self.value != "") : true',
          test: (v) => v.operation !== 'UPSERT' || (typeof v.value === 'string' && v.value !== ''),
        },
        {
          message: 'value must not be set when operation is REMOVE',
          cel: '((has(self.operation) ? self.operation : "") == "REMOVE") ? !has(self.value) : true',
          test: (v) => v.operation !== 'REMOVE' || v.value === undefined,
        },
      ],
    },
  );

const customTag = (): Schema =>
  obj(
    {
      literal: obj({ value: str({ minLength: 1 }) }, { required: ['value'] }),
      environment: obj({ name: str({ minLength: 1 }), defaultValue: str() }, { required: ['name'] }),
      header: obj({ name: str({ minLength: 1 }), defaultValue: str() }, { required: ['name'] }),
      formatter: obj({ value: str({ minLength: 1 }) }, { required: ['value'] }),
    },
    { oneOf: [['literal', 'environment', 'header', 'formatter']] },
  );

export const telemetrySpec = (): Schema =>
  obj(
    {
      selector: workloadSelector(),
      targetRef: targetRef(),
      targetRefs: targetRefs(),
      tracing: arr(
        obj({
          match: obj({ mode: mode() }),
          providers: providers(),
          randomSamplingPercentage: doubleValue({ minimum: 0, maximum: 100 }),
          disableSpanReporting: boolValue(),
          customTags: map(customTag()),
          useRequestIdForTraceSampling: boolValue(),
          enableIstioTags: boolValue(),
          disableContextPropagation: boolValue(),
        }),
      ),
      metrics: arr(
        obj({
          providers: providers(),
          overrides: arr(
            obj({
              match: obj(
                { metric: enumOf(METRICS), customMetric: str({ minLength: 1 }), mode: mode() },
                { oneOf: [['metric', 'customMetric']] },
              ),
              disabled: boolValue(),
              tagOverrides: map(tagOverride()),
            }),
          ),
          reportingInterval: duration(),
        }),
      ),
      accessLogging: arr(
        obj({
          match: obj({ mode: mode() }),
          providers: providers(),
          disabled: boolValue(),
          filter: obj({ expression: str() }),
        }),
      ),
    },
    { rules: [selectorOrTargets(['selector', 'targetRef', 'targetRefs'])] },
  );

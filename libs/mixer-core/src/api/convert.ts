import { mixerCheck } from '@flotilla/proto';
import type { HeaderOperation } from '../dispatch/runtime';

/** Milliseconds → google.protobuf.Duration. */
export function durationOf(ms: number): { seconds: number; nanos: number } {
  const whole = Math.max(0, Math.floor(ms));
  const seconds = Math.floor(whole / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

const OPERATIONS = {
  REPLACE: mixerCheck.HeaderOperation_Operation.REPLACE,
  REMOVE: mixerCheck.HeaderOperation_Operation.REMOVE,
  APPEND: mixerCheck.HeaderOperation_Operation.APPEND,
} as const;

export function headerOperation(op: HeaderOperation): mixerCheck.HeaderOperation {
  return mixerCheck.HeaderOperation.fromPartial({
    name: op.name,
    value: op.value,
    operation: OPERATIONS[op.operation],
  });
}

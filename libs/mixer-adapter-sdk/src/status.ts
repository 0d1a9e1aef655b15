/** google.rpc.Code: the status codes Check and Quota results carry (the same numbers as gRPC's). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type CodeNumber = (typeof Code)[keyof typeof Code];

/** A google.rpc.Status without details. */
export interface Status {
  readonly code: number;
  readonly message: string;
}

export const OK: Status = Object.freeze({ code: Code.OK, message: '' });

export function status(code: number, message: string): Status {
  return { code, message };
}

export function isOk(s: Status): boolean {
  return s.code === Code.OK;
}

export function codeName(code: number): string {
  return Object.entries(Code).find(([, n]) => n === code)?.[0] ?? `CODE_${code}`;
}

import { status as grpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { AttributeDecodeError, GlobalWordCountError } from '../attributes/compressed';

/** A request that is malformed in a way the message explains (an INVALID_ARGUMENT). */
export class BadRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

/** An adapter could not answer and the API must fail rather than decide (UNAVAILABLE). */
export class BackendUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

export interface ErrorLogger {
  error(obj: object, msg?: string): void;
}

/**
 * The one place errors become gRPC statuses:
 *   GlobalWordCountError  → FAILED_PRECONDITION (client built against a newer dictionary)
 *   AttributeDecodeError  → INVALID_ARGUMENT (bad word index)
 *   BadRequestError       → INVALID_ARGUMENT
 *   BackendUnavailable    → UNAVAILABLE
 *   anything else         → INTERNAL, logged, with a generic message (no internals leak to callers)
 */
export function toServiceError(err: unknown, logger: ErrorLogger, method: string): Partial<ServiceError> {
  const make = (code: grpcStatus, details: string): Partial<ServiceError> => ({
    code,
    details,
    message: details,
    metadata: new Metadata(),
  });
  if (err instanceof GlobalWordCountError) return make(grpcStatus.FAILED_PRECONDITION, err.message);
  if (err instanceof AttributeDecodeError) return make(grpcStatus.INVALID_ARGUMENT, err.message);
  if (err instanceof BadRequestError) return make(grpcStatus.INVALID_ARGUMENT, err.message);
  if (err instanceof BackendUnavailableError) return make(grpcStatus.UNAVAILABLE, err.message);
  logger.error({ method, err: (err as Error)?.stack ?? String(err) }, 'request failed');
  return make(grpcStatus.INTERNAL, `${method} failed inside mixer; see mixer's log`);
}

/** Runs a unary handler and answers with its result or its error mapped by toServiceError. */
export function unary<Req, Res>(
  method: string,
  logger: ErrorLogger,
  handle: (request: Req) => Promise<Res>,
): (call: { request: Req }, callback: (err: Partial<ServiceError> | null, res?: Res) => void) => void {
  return (call, callback) => {
    let request: Req;
    try {
      request = call.request;
    } catch (err) {
      callback(toServiceError(err, logger, method));
      return;
    }
    handle(request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err, logger, method)),
    );
  };
}

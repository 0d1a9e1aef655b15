import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { CaError } from '@flotilla/pki';
import type { CaErrorKind } from '@flotilla/pki';

/** The one place CA error kinds become gRPC status codes. */
export const STATUS_OF: Record<CaErrorKind, status> = {
  unauthenticated: status.UNAUTHENTICATED,
  'permission-denied': status.PERMISSION_DENIED,
  'invalid-request': status.INVALID_ARGUMENT,
  unavailable: status.UNAVAILABLE,
  internal: status.INTERNAL,
};

/** A CaError's kind and message as a gRPC error; anything else is INTERNAL without its details. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  if (err instanceof CaError)
    return { code: STATUS_OF[err.kind], details: err.message, metadata: new Metadata() };
  return {
    code: status.INTERNAL,
    details: 'internal error in the certificate authority',
    metadata: new Metadata(),
  };
}

/**
 * What went wrong with a certificate request, by kind. The kinds follow how a caller should react (fix the
 * request, authenticate, ask for another identity, retry later); the gRPC server maps each kind to one status
 * code, in one place.
 */
export type CaErrorKind =
  /** No credential, or one that does not verify. */
  | 'unauthenticated'
  /** A verified caller asking for what it may not have (another identity). */
  | 'permission-denied'
  /** A malformed or unacceptable request: bad CSR, bad signature, TTL out of range. */
  | 'invalid-request'
  /** A dependency (Kubernetes API, HSM, Vault) could not be reached; worth retrying. */
  | 'unavailable'
  /** A fault in the CA itself. */
  | 'internal';

export class CaError extends Error {
  constructor(
    readonly kind: CaErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CaError';
  }
}

export function isCaError(err: unknown): err is CaError {
  return err instanceof CaError;
}

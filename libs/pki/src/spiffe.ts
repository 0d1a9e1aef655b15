/**
 * SPIFFE IDs (SPIFFE-ID spec §2): `spiffe://<trust-domain>/<path>`; trust domain of lowercase letters, digits,
 * dots, dashes and underscores; path segments of letters, digits, dots, dashes and underscores, none empty, "."
 * or ".."; no query, fragment, port or user info; at most 2048 bytes. Istio's workload identities have the path
 * ns/<namespace>/sa/<service account>.
 */
export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_LENGTH = 2048;

export class SpiffeIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpiffeIdError';
  }
}

export function validateTrustDomain(trustDomain: string): string {
  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw new SpiffeIdError(
      `trust domain ${JSON.stringify(trustDomain)} may only hold lowercase letters, digits, ".", "-" and "_"`,
    );
  }
  return trustDomain;
}

function checkSegment(segment: string, what: string): void {
  if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
    throw new SpiffeIdError(`${what} ${JSON.stringify(segment)} is not a valid SPIFFE path segment`);
  }
}

/** The SPIFFE ID of a Kubernetes service account in a trust domain. */
export function spiffeIdOf(identity: WorkloadIdentity): string {
  validateTrustDomain(identity.trustDomain);
  checkSegment(identity.namespace, 'namespace');
  checkSegment(identity.serviceAccount, 'service account');
  return `spiffe://${identity.trustDomain}/ns/${identity.namespace}/sa/${identity.serviceAccount}`;
}

/** Parses a SPIFFE ID in the workload form; throws SpiffeIdError saying what is wrong. */
export function parseWorkloadSpiffeId(id: string): WorkloadIdentity {
  if (id.length > MAX_LENGTH) throw new SpiffeIdError(`SPIFFE ID longer than ${MAX_LENGTH} bytes`);
  const m = /^spiffe:\/\/([^/]*)(\/.*)?$/.exec(id);
  if (!m) throw new SpiffeIdError(`${JSON.stringify(id)} is not a spiffe:// URI`);
  const trustDomain = validateTrustDomain(m[1]);
  const segments = (m[2] ?? '').split('/').slice(1);
  segments.forEach((s) => checkSegment(s, 'path segment'));
  if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') {
    throw new SpiffeIdError(
      `${JSON.stringify(id)} is not of the form spiffe://<trust-domain>/ns/<ns>/sa/<sa>`,
    );
  }
  return { trustDomain, namespace: segments[1], serviceAccount: segments[3] };
}

/** "system:serviceaccount:<ns>:<sa>", the Kubernetes user name of a service account. */
export function parseServiceAccountUser(username: string): { namespace: string; serviceAccount: string } {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (!m) throw new SpiffeIdError(`${JSON.stringify(username)} is not a service account user name`);
  checkSegment(m[1], 'namespace');
  checkSegment(m[2], 'service account');
  return { namespace: m[1], serviceAccount: m[2] };
}

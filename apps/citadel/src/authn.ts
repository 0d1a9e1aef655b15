import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import {
  CaError,
  ISTIO_CA_AUDIENCE,
  LocalTokenError,
  SpiffeIdError,
  isLocalToken,
  parseServiceAccountUser,
  parseWorkloadSpiffeId,
  spiffeIdOf,
  verifyLocalToken,
} from '@flotilla/pki';
import type { RevocationStore } from '@flotilla/pki';

/** What a caller brought: a bearer token from the `authorization` metadata, a TLS-verified client certificate. */
export interface Credentials {
  bearerToken?: string;
  /** Present only when TLS verified it against the mesh's roots. */
  peerCertificate?: PeerCertificate;
}

export interface Caller {
  /** The SPIFFE ID the caller proved. */
  identity: string;
  /** Which authenticator proved it. */
  by: string;
}

/** One way of proving an identity. `applies` says whether the credentials carry what it checks. */
export interface Authenticator {
  readonly name: string;
  applies(credentials: Credentials): boolean;
  /** The caller's SPIFFE ID; throws a CaError ('unauthenticated', or 'unavailable' when it cannot check). */
  authenticate(credentials: Credentials): Promise<string>;
}

/** "Bearer <token>" → the token (case-insensitive scheme, as Istio's agents send it). */
export function bearerTokenOf(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m ? m[1] : undefined;
}

/**
 * Tries each applicable authenticator in order; the first to succeed names the caller. No applicable one, or
 * all failing, is UNAUTHENTICATED with the reasons (UNAVAILABLE when one could not check at all).
 */
export async function authenticate(
  authenticators: readonly Authenticator[],
  credentials: Credentials,
): Promise<Caller> {
  // Built only when an authenticator fails: this runs for every certificate, and most calls succeed at once.
  let failures: CaError[] | undefined;
  for (const a of authenticators) {
    if (!a.applies(credentials)) continue;
    try {
      return { identity: await a.authenticate(credentials), by: a.name };
    } catch (err) {
      if (!(err instanceof CaError)) throw err;
      (failures ??= []).push(new CaError(err.kind, `${a.name}: ${err.message}`, { cause: err }));
    }
  }
  if (!failures) {
    throw new CaError(
      'unauthenticated',
      'no credential: send "authorization: Bearer <token>" metadata or a client certificate issued by this CA',
    );
  }
  const unavailable = failures.find((f) => f.kind === 'unavailable');
  if (unavailable) throw unavailable;
  throw new CaError('unauthenticated', failures.map((f) => f.message).join('; '));
}

/**
 * Renewal: a still-valid workload certificate, verified by the TLS handshake against the mesh's roots,
 * proves the SPIFFE ID in its one URI SAN (if in this trust domain and not revoked).
 */
export class ClientCertificateAuthenticator implements Authenticator {
  readonly name = 'client certificate';

  constructor(
    private readonly trustDomain: string,
    private readonly revocations?: RevocationStore,
  ) {}

  applies(credentials: Credentials): boolean {
    return credentials.peerCertificate !== undefined;
  }

  async authenticate({ peerCertificate }: Credentials): Promise<string> {
    const uris = (peerCertificate?.subjectaltname ?? '')
      .split(', ')
      .filter((n) => n.startsWith('URI:'))
      .map((n) => n.slice(4));
    if (uris.length !== 1)
      throw new CaError('unauthenticated', `the certificate has ${uris.length} URI SANs, not one SPIFFE ID`);
    try {
      const id = parseWorkloadSpiffeId(uris[0]);
      if (id.trustDomain !== this.trustDomain) {
        throw new CaError('unauthenticated', `${uris[0]} is not in trust domain ${this.trustDomain}`);
      }
    } catch (err) {
      if (err instanceof SpiffeIdError) throw new CaError('unauthenticated', err.message);
      throw err;
    }
    const serial = peerCertificate!.serialNumber;
    if (this.revocations?.get(serial))
      throw new CaError('unauthenticated', `certificate ${serial.toLowerCase()} is revoked`);
    return uris[0];
  }
}

/** `flotilla token`'s JWTs, verified with the key in citadel's state folder. */
export class LocalTokenAuthenticator implements Authenticator {
  readonly name = 'local token';
  private readonly key: KeyObject;

  constructor(
    key: KeyObject,
    private readonly trustDomain: string,
  ) {
    this.key = key.type === 'private' ? createPublicKey(key) : key;
  }

  applies(credentials: Credentials): boolean {
    return credentials.bearerToken !== undefined && isLocalToken(credentials.bearerToken);
  }

  async authenticate({ bearerToken }: Credentials): Promise<string> {
    try {
      const sa = verifyLocalToken(this.key, bearerToken!, { audience: ISTIO_CA_AUDIENCE });
      return spiffeIdOf({ trustDomain: this.trustDomain, ...sa });
    } catch (err) {
      if (err instanceof LocalTokenError || err instanceof SpiffeIdError)
        throw new CaError('unauthenticated', err.message);
      throw err;
    }
  }
}

export interface TokenReviewConfig {
  /** https://kubernetes.default.svc, or a test double's http:// address. */
  apiServer: string;
  /** Citadel's own service-account token (re-read on every review: kubelet rotates it). */
  tokenFile?: string;
  /** CA bundle for the API server's certificate. */
  caFile?: string;
  audience?: string;
  timeoutMs?: number;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string };
  audiences?: string[];
  error?: string;
}

/**
 * Kubernetes service-account tokens, checked by the API server's TokenReview (authentication.k8s.io/v1) with
 * audience istio-ca. Needs citadel's service account bound to system:auth-delegator.
 */
export class KubernetesTokenAuthenticator implements Authenticator {
  readonly name = 'Kubernetes token';
  private readonly audience: string;
  private readonly ca: Buffer | undefined;

  constructor(
    private readonly config: TokenReviewConfig,
    private readonly trustDomain: string,
  ) {
    this.audience = config.audience ?? ISTIO_CA_AUDIENCE;
    this.ca = config.caFile ? readFileSync(config.caFile) : undefined;
  }

  applies(credentials: Credentials): boolean {
    return credentials.bearerToken !== undefined && !isLocalToken(credentials.bearerToken);
  }

  async authenticate({ bearerToken }: Credentials): Promise<string> {
    const review = await this.review(bearerToken!);
    if (!review.authenticated) {
      throw new CaError(
        'unauthenticated',
        `the token was not authenticated by TokenReview${review.error ? `: ${review.error}` : ''}`,
      );
    }
    if (review.audiences && !review.audiences.includes(this.audience)) {
      throw new CaError('unauthenticated', `the token is not for audience ${this.audience}`);
    }
    try {
      const sa = parseServiceAccountUser(review.user?.username ?? '');
      return spiffeIdOf({ trustDomain: this.trustDomain, ...sa });
    } catch (err) {
      if (err instanceof SpiffeIdError) throw new CaError('unauthenticated', err.message);
      throw err;
    }
  }

  private review(token: string): Promise<TokenReviewStatus> {
    const url = new URL('/apis/authentication.k8s.io/v1/tokenreviews', this.config.apiServer);
    const body = JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: [this.audience] },
    });
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
    };
    if (this.config.tokenFile) {
      headers.Authorization = `Bearer ${readFileSync(this.config.tokenFile, 'utf8').trim()}`;
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        { method: 'POST', headers, ca: this.ca, timeout: this.config.timeoutMs ?? 5000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code >= 500)
              return reject(
                new CaError('unavailable', `TokenReview failed: HTTP ${code} from ${url.origin}`),
              );
            if (code < 200 || code >= 300) {
              return reject(
                new CaError(
                  'internal',
                  `the Kubernetes API refused citadel's TokenReview (HTTP ${code}): ${text.slice(0, 200)}`,
                ),
              );
            }
            try {
              resolve((JSON.parse(text) as { status?: TokenReviewStatus }).status ?? {});
            } catch {
              reject(new CaError('unavailable', 'TokenReview answer is not JSON'));
            }
          });
          res.on('error', (err) => reject(new CaError('unavailable', `TokenReview failed: ${err.message}`)));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) =>
        reject(
          new CaError('unavailable', `cannot reach the Kubernetes API at ${url.origin}: ${err.message}`),
        ),
      );
      req.end(body);
    });
  }
}

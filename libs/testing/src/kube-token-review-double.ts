import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendJson, sendKubeStatus } from './http-json';

/**
 * A TEST DOUBLE of the Kubernetes API server's TokenReview API, speaking the real HTTP protocol
 * (POST /apis/authentication.k8s.io/v1/tokenreviews). It issues opaque service-account tokens with audiences,
 * answers reviews as kube-apiserver does (201 with status.authenticated, status.user.username
 * "system:serviceaccount:<ns>:<sa>", the matching audiences, or an error string), requires the caller's own
 * bearer token (401 without it, 403 when that token may not create TokenReviews), and records every review.
 * It is not Kubernetes: nothing else is served (404 with a Status).
 */
export class KubeTokenReviewDouble {
  /** Every TokenReview received, in order. */
  readonly reviews: { token: string; audiences?: string[] }[] = [];
  /** Answer the next N requests with this HTTP status (outages, overload). */
  failures: { status: number; count: number } | undefined;
  private readonly tokens = new Map<
    string,
    { namespace: string; serviceAccount: string; audiences: string[] }
  >();
  private readonly reviewers = new Set<string>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** The API server's default audience, used when a review names none. */
  static readonly API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

  static async start(): Promise<KubeTokenReviewDouble> {
    const holder: { double?: KubeTokenReviewDouble } = {};
    const server = createServer((req, res) => holder.double!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.double = new KubeTokenReviewDouble(
      server,
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    );
    return holder.double;
  }

  /** A token for a service account, like a projected volume's (`audiences` defaults to the API server's). */
  issueToken(
    namespace: string,
    serviceAccount: string,
    audiences = [KubeTokenReviewDouble.API_AUDIENCE],
  ): string {
    const token = `double.${randomBytes(18).toString('base64url')}`;
    this.tokens.set(token, { namespace, serviceAccount, audiences });
    return token;
  }

  /** A token whose service account may create TokenReviews (system:auth-delegator). */
  issueReviewerToken(namespace = 'flotilla-system', serviceAccount = 'citadel'): string {
    const token = this.issueToken(namespace, serviceAccount);
    this.reviewers.add(token);
    return token;
  }

  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.failures && this.failures.count > 0) {
        this.failures.count--;
        return sendKubeStatus(res, this.failures.status, 'InternalError', 'injected failure');
      }
      const url = new URL(req.url ?? '/', this.url);
      if (url.pathname !== '/apis/authentication.k8s.io/v1/tokenreviews') {
        return sendKubeStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
      }
      if (req.method !== 'POST')
        return sendKubeStatus(res, 405, 'MethodNotAllowed', `${req.method} is not allowed`);
      const caller = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!caller || !this.tokens.has(caller))
        return sendKubeStatus(res, 401, 'Unauthorized', 'Unauthorized');
      if (!this.reviewers.has(caller)) {
        const sa = this.tokens.get(caller)!;
        return sendKubeStatus(
          res,
          403,
          'Forbidden',
          `tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:${sa.namespace}:${sa.serviceAccount}" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope`,
        );
      }
      let review: { apiVersion?: string; kind?: string; spec?: { token?: string; audiences?: string[] } };
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendKubeStatus(res, 400, 'BadRequest', 'the body is not JSON');
      }
      if (
        review.kind !== 'TokenReview' ||
        review.apiVersion !== 'authentication.k8s.io/v1' ||
        !review.spec?.token
      ) {
        return sendKubeStatus(
          res,
          400,
          'BadRequest',
          'expected an authentication.k8s.io/v1 TokenReview with spec.token',
        );
      }
      const { token, audiences } = review.spec;
      this.reviews.push({ token, audiences });
      const wanted = audiences?.length ? audiences : [KubeTokenReviewDouble.API_AUDIENCE];
      const found = this.tokens.get(token);
      const matching = found ? found.audiences.filter((a) => wanted.includes(a)) : [];
      let result: Record<string, unknown>;
      if (!found)
        result = {
          authenticated: false,
          error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]',
        };
      else if (matching.length === 0) {
        result = {
          authenticated: false,
          error: `[invalid bearer token, token audiences ${JSON.stringify(found.audiences)} is invalid for the target audiences ${JSON.stringify(wanted)}]`,
        };
      } else {
        result = {
          authenticated: true,
          user: {
            username: `system:serviceaccount:${found.namespace}:${found.serviceAccount}`,
            uid: randomBytes(8).toString('hex'),
            groups: [
              'system:serviceaccounts',
              `system:serviceaccounts:${found.namespace}`,
              'system:authenticated',
            ],
          },
          audiences: matching,
        };
      }
      sendJson(res, 201, {
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec: review.spec,
        status: result,
      });
    });
  }
}

import { readFileSync } from 'node:fs';
import { CaError } from '../ca-error';

/** How citadel authenticates to Vault. */
export type VaultAuth =
  /** A Vault token (from a file or the environment); sent as X-Vault-Token. */
  | { kind: 'token'; token: string }
  /**
   * Kubernetes auth: POST /v1/auth/<mount>/login with the role and the service account's JWT (read from `jwtFile`
   * on every login, as projected tokens rotate); the returned auth.client_token is used until Vault answers 403.
   */
  | { kind: 'kubernetes'; role: string; jwt?: string; jwtFile?: string; mount?: string };

export interface VaultClientOptions {
  /** Vault's address, e.g. https://vault.vault.svc:8200. */
  address: string;
  auth: VaultAuth;
  /** Per-request time limit (default 10 s). */
  timeoutMs?: number;
  /** Sent as X-Vault-Namespace when given (Vault Enterprise namespaces). */
  namespace?: string;
}

/** Vault's JSON answer to a request that succeeded. */
export type VaultResponse = Record<string, unknown>;

/**
 * A small Vault HTTP client over Node's fetch, for the PKI endpoints citadel uses. Failures become CaErrors:
 * Vault unreachable, sealed or overloaded (network error, timeout, 5xx, 429) → 'unavailable'; Vault refusing
 * citadel's own credential (403 after a fresh Kubernetes login) or naming an unknown role → 'internal' (citadel
 * is misconfigured; the workload is not at fault); any other 4xx → 'invalid-request'. Messages quote Vault's
 * `errors`.
 */
export class VaultClient {
  private token: string | undefined;
  private login: Promise<string> | undefined;
  private readonly address: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: VaultClientOptions) {
    this.address = options.address.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    if (options.auth.kind === 'token') this.token = options.auth.token.trim();
  }

  get description(): string {
    const auth = this.options.auth;
    return `Vault at ${this.address} (${auth.kind === 'token' ? 'token auth' : `Kubernetes auth role ${auth.role}`})`;
  }

  /** An authenticated request; with Kubernetes auth a 403 triggers one new login and a retry. */
  async request(method: 'GET' | 'POST', path: string, body?: object): Promise<VaultResponse> {
    const token = await this.currentToken();
    try {
      return await this.send(method, path, body, token);
    } catch (err) {
      if (this.options.auth.kind !== 'kubernetes' || !(err instanceof VaultHttpError) || err.status !== 403) {
        throw toCaError(err, method, path);
      }
      if (this.token === token) this.token = undefined;
      try {
        return await this.send(method, path, body, await this.currentToken());
      } catch (retryErr) {
        throw toCaError(retryErr, method, path);
      }
    }
  }

  /** An unauthenticated GET returning the body as text (GET /v1/<mount>/ca_chain answers bare PEM). */
  async getText(path: string): Promise<string> {
    try {
      const res = await this.fetch('GET', path, undefined, undefined);
      const text = await res.text();
      if (!res.ok) throw new VaultHttpError(res.status, errorsOf(text));
      return text;
    } catch (err) {
      throw toCaError(err, 'GET', path);
    }
  }

  private async currentToken(): Promise<string> {
    if (this.token) return this.token;
    const auth = this.options.auth;
    if (auth.kind === 'token') throw new CaError('internal', 'no Vault token configured');
    this.login ??= this.kubernetesLogin(auth).finally(() => (this.login = undefined));
    return this.login;
  }

  private async kubernetesLogin(auth: Extract<VaultAuth, { kind: 'kubernetes' }>): Promise<string> {
    const path = `/v1/auth/${auth.mount ?? 'kubernetes'}/login`;
    let jwt = auth.jwt;
    if (jwt === undefined) {
      if (!auth.jwtFile) throw new CaError('internal', 'Kubernetes auth to Vault needs a JWT or a JWT file');
      try {
        jwt = readFileSync(auth.jwtFile, 'utf8').trim();
      } catch (err) {
        throw new CaError('internal', `cannot read the service-account token ${auth.jwtFile}: ${err}`, {
          cause: err,
        });
      }
    }
    let answer: VaultResponse;
    try {
      answer = await this.send('POST', path, { role: auth.role, jwt }, undefined);
    } catch (err) {
      throw toCaError(err, 'POST', path, `Vault Kubernetes login as role ${auth.role} failed`);
    }
    const token = (answer.auth as { client_token?: unknown } | undefined)?.client_token;
    if (typeof token !== 'string' || token === '') {
      throw new CaError('internal', `Vault Kubernetes login (${path}) returned no auth.client_token`);
    }
    this.token = token;
    return token;
  }

  private async send(
    method: string,
    path: string,
    body: object | undefined,
    token: string | undefined,
  ): Promise<VaultResponse> {
    const res = await this.fetch(method, path, body, token);
    const text = await res.text();
    if (!res.ok) throw new VaultHttpError(res.status, errorsOf(text));
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text) as VaultResponse;
    } catch {
      throw new VaultHttpError(502, [`Vault answered ${path} with something that is not JSON`]);
    }
  }

  private fetch(method: string, path: string, body: object | undefined, token: string | undefined) {
    const headers: Record<string, string> = {};
    if (token) headers['X-Vault-Token'] = token;
    if (this.options.namespace) headers['X-Vault-Namespace'] = this.options.namespace;
    if (body) headers['Content-Type'] = 'application/json';
    return fetch(`${this.address}${path}`, {
      method,
      headers,
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
  }
}

/** A non-2xx answer from Vault, with its `errors`. */
export class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(`HTTP ${status}: ${errors.join('; ') || 'no error message'}`);
    this.name = 'VaultHttpError';
  }
}

function errorsOf(text: string): string[] {
  try {
    const parsed = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(parsed.errors)) return parsed.errors.map((e) => String(e).trim());
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return text.trim() ? [text.trim().slice(0, 200)] : [];
}

function toCaError(err: unknown, method: string, path: string, what = `Vault ${method} ${path}`): CaError {
  if (err instanceof CaError) return err;
  if (err instanceof VaultHttpError) {
    const message = `${what}: ${err.message}`;
    if (err.status >= 500 || err.status === 429) return new CaError('unavailable', message, { cause: err });
    if (err.status === 401 || err.status === 403) {
      return new CaError('internal', `${message} (Vault refused citadel's credential)`, { cause: err });
    }
    if (err.errors.some((e) => /unknown role|invalid role/i.test(e))) {
      return new CaError('internal', `${message} (check citadel's Vault role)`, { cause: err });
    }
    return new CaError('invalid-request', message, { cause: err });
  }
  const reason = err instanceof Error ? `${err.message}${causeOf(err)}` : String(err);
  return new CaError('unavailable', `${what}: Vault is unreachable: ${reason}`, { cause: err });
}

function causeOf(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? ` (${cause.message})` : '';
}

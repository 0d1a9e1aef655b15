import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The local mesh's stand-in for Kubernetes service-account tokens: a JWT (ES256) signed with a key kept in
 * citadel's state folder. `flotilla token` signs one for a namespace and service account; citadel verifies it
 * with the same key's public half. Claims mirror a projected service-account token's: sub
 * "system:serviceaccount:<ns>:<sa>", aud ["istio-ca"], iat/nbf/exp.
 */
export const LOCAL_TOKEN_KEY_FILE = 'token-key.pem';
export const LOCAL_TOKEN_ISSUER = 'flotilla-local';
export const ISTIO_CA_AUDIENCE = 'istio-ca';

export interface LocalTokenClaims {
  namespace: string;
  serviceAccount: string;
}

export class LocalTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalTokenError';
  }
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** Loads the token key from `dir`, creating it (owner-only) when absent; safe when two processes race. */
export function loadOrCreateTokenKey(dir: string): KeyObject {
  const path = join(dir, LOCAL_TOKEN_KEY_FILE);
  try {
    return createPrivateKey(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dir, { recursive: true });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  try {
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return privateKey;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return createPrivateKey(readFileSync(path, 'utf8'));
  }
}

/** Reads the token key from `dir`; no key there is an error naming the file. */
export function readTokenKey(dir: string): KeyObject {
  const path = join(dir, LOCAL_TOKEN_KEY_FILE);
  try {
    return createPrivateKey(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LocalTokenError(`cannot read the local token key ${path}: ${(err as Error).message}`);
  }
}

export function signLocalToken(
  key: KeyObject,
  claims: LocalTokenClaims,
  options: { ttlSeconds?: number; audience?: string; now?: number } = {},
): string {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const header = { alg: 'ES256', typ: 'JWT' };
  const payload = {
    iss: LOCAL_TOKEN_ISSUER,
    sub: `system:serviceaccount:${claims.namespace}:${claims.serviceAccount}`,
    aud: [options.audience ?? ISTIO_CA_AUDIENCE],
    iat,
    nbf: iat - 60,
    exp: iat + (options.ttlSeconds ?? 3600),
    'kubernetes.io': { namespace: claims.namespace, serviceaccount: { name: claims.serviceAccount } },
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}

/** A JWT's claims, read without verifying anything; undefined when the token is no JWT with a JSON payload. */
export function unverifiedJwtClaims(token: string): Record<string, unknown> | undefined {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** True when the token is a JWT whose issuer is the local issuer (without verifying it). */
export function isLocalToken(token: string): boolean {
  return unverifiedJwtClaims(token)?.iss === LOCAL_TOKEN_ISSUER;
}

/**
 * Verifies signature, issuer, audience and time; returns the service account or throws LocalTokenError. Pass
 * the public key when verifying many tokens: deriving it from the private key costs a point multiplication.
 */
export function verifyLocalToken(
  key: KeyObject,
  token: string,
  options: { audience?: string; now?: number } = {},
): LocalTokenClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new LocalTokenError('not a JWT (expected three dot-separated parts)');
  let header: { alg?: unknown }, payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new LocalTokenError('the JWT header or payload is not JSON');
  }
  if (header.alg !== 'ES256') throw new LocalTokenError(`JWT alg ${String(header.alg)} is not ES256`);
  const ok = verify(
    'sha256',
    Buffer.from(token.slice(0, parts[0].length + 1 + parts[1].length)),
    { key: key.type === 'private' ? createPublicKey(key) : key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(parts[2], 'base64url'),
  );
  if (!ok) throw new LocalTokenError('the token signature does not verify with the local token key');
  if (payload.iss !== LOCAL_TOKEN_ISSUER)
    throw new LocalTokenError(`token issuer ${String(payload.iss)} is not ${LOCAL_TOKEN_ISSUER}`);
  const audience = options.audience ?? ISTIO_CA_AUDIENCE;
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.includes(audience))
    throw new LocalTokenError(`token audiences ${JSON.stringify(aud)} do not include ${audience}`);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (typeof payload.exp !== 'number' || now >= payload.exp)
    throw new LocalTokenError('the token has expired');
  if (typeof payload.nbf === 'number' && now < payload.nbf)
    throw new LocalTokenError('the token is not valid yet');
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(String(payload.sub));
  if (!m) throw new LocalTokenError(`token subject ${String(payload.sub)} is not a service account`);
  return { namespace: m[1], serviceAccount: m[2] };
}

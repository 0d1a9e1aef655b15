// PeerAuthentication and RequestAuthentication (JWT rules).
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { isSet, keys, list, obj, str } from './common/access';
import type { ResourceContext } from './common/context';
import { checkDuration } from './common/durations';
import { checkStrictHeaderName } from './common/headers';
import { checkPolicyTargets, checkWorkloadSelector } from './common/selectors';

export function validatePeerAuthentication(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  const selector = obj(spec.selector);
  const emptySelector = !selector || keys(selector.matchLabels).length === 0;
  const portLevel = obj(spec.portLevelMtls);
  if (emptySelector && portLevel && keys(portLevel).length !== 0) {
    issues.error('mesh/namespace peer authentication cannot have port level mTLS', 'portLevelMtls');
  }
  if (portLevel && keys(portLevel).length === 0)
    issues.error('port level mTLS, if defined, must have at least one element', 'portLevelMtls');
  for (const port of keys(portLevel)) {
    const n = /^\d+$/.test(port) ? Number(port) : NaN;
    if (!(n > 0 && n <= 65535)) issues.error('port must be in range 1..65535', 'portLevelMtls');
  }
  checkWorkloadSelector(spec.selector, issues);
}

function jwksURIProblem(uri: string): string | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri);
  const scheme = m ? m[1].toLowerCase() : '';
  if (scheme !== 'http' && scheme !== 'https') return `URI scheme "${scheme}" is not supported`;
  const port = /^[a-z]+:\/\/[^/:?#]*:([^/?#]*)/i.exec(uri)?.[1];
  if (port !== undefined && port !== '' && !/^\d+$/.test(port))
    return `strconv.Atoi: parsing "${port}": invalid syntax`;
  return undefined;
}

function jwksProblem(jwks: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(jwks);
  } catch (e) {
    return `jwks parse error: ${(e as Error).message}`;
  }
  const o = obj(parsed);
  if (!o) return 'jwks parse error: expected a JSON object';
  if (!Array.isArray(o.keys) && !isSet(o.kty)) return 'jwks parse error: failed to parse key set';
  return undefined;
}

function checkJwtRule(rule: Obj, issues: Issues): void {
  for (const a of list(rule.audiences))
    if (str(a) === '') issues.error('audience must be non-empty string', 'audiences');
  const issuer = str(rule.issuer);
  const jwksUri = str(rule.jwksUri) || str(rule.jwks_uri);
  if (issuer === '' && jwksUri === '') issues.error('issuer or jwksUri must be non-empty string', 'issuer');
  if (jwksUri !== '') {
    const p = jwksURIProblem(jwksUri);
    if (p) issues.error(p, 'jwksUri');
  }
  if (str(rule.jwks) !== '') {
    const p = jwksProblem(str(rule.jwks));
    if (p) issues.error(p, 'jwks');
    else if (/"d"\s*:/.test(str(rule.jwks))) {
      issues.warn(
        'jwks key contains private key material; only public keys are used for verification',
        'jwks',
      );
    }
  }
  list(rule.fromHeaders).forEach((h, i) => {
    const header = obj(h);
    if (!header) issues.error('location header name must be non-null', 'fromHeaders', i);
    else if (str(header.name) === '')
      issues.error('location header name must be non-empty string', 'fromHeaders', i, 'name');
  });
  for (const p of list(rule.fromParams))
    if (str(p) === '') issues.error('location query must be non-empty string', 'fromParams');
  for (const c of list(rule.fromCookies))
    if (str(c) === '') issues.error('cookie name must be non-empty string', 'fromCookies');
  list(rule.outputClaimToHeaders).forEach((c, i) => {
    const ch = obj(c);
    if (!ch) {
      issues.error('outputClaimToHeaders must not be null', 'outputClaimToHeaders', i);
      return;
    }
    if (str(ch.claim) === '' || str(ch.header) === '') {
      issues.error(
        'outputClaimToHeaders header and claim value must be non-empty string',
        'outputClaimToHeaders',
        i,
      );
      return;
    }
    const e = checkStrictHeaderName(str(ch.header));
    if (e) issues.error(e, 'outputClaimToHeaders', i, 'header');
  });
  if (isSet(rule.timeout)) {
    const e = checkDuration(rule.timeout);
    if (e) issues.error(e, 'timeout');
  }
}

export function validateRequestAuthentication(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  checkPolicyTargets(spec, issues);
  list(spec.jwtRules).forEach((r, i) => {
    const rule = obj(r);
    if (!rule) return;
    issues.push('jwtRules');
    issues.push(i);
    checkJwtRule(rule, issues);
    issues.pop();
    issues.pop();
  });
}

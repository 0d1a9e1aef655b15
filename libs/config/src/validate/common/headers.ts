// HTTP header names and values as Istio accepts them in routes, CORS, JWT rules and probes.
import type { Issues } from '../../issues';
import { keys, list, obj, str } from './access';

const TOKEN = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;
const STRICT = /^[-_A-Za-z0-9]+$/;
const PROBE = /^[-A-Za-z0-9]+$/;
// eslint-disable-next-line no-control-regex -- header values may not contain control characters
const CONTROL = /[\u0000-\u0008\u000A-\u001F\u007F]/;
const PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':status']);
const CLAIM_ROUTE = /^@request\.auth\.claims(\.[^.]+|\[[^\]]+\])+$/;

export function isJwtClaimRoute(name: string): boolean {
  return CLAIM_ROUTE.test(name);
}

export function checkStrictHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  return STRICT.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

export function checkProbeHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  return PROBE.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

export function checkCORSHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (name === '*') return undefined;
  return TOKEN.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

/** Header names in matches: a token, a pseudo-header, or `@request.auth.claims.<name>`. */
export function checkMatchHeaderName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (isJwtClaimRoute(name) || PSEUDO.has(name)) return undefined;
  return TOKEN.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

const isInternal = (k: string): boolean => k.startsWith(':') || k.toLowerCase() === 'host';
export const isAuthorityHeader = (k: string): boolean =>
  k.toLowerCase() === ':authority' || k.toLowerCase() === 'host';

function checkAddSetRequestName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (isInternal(name) && !isAuthorityHeader(name))
    return `invalid header "${name}": header cannot have ":" prefix`;
  return undefined;
}

function checkOperationName(name: string): string | undefined {
  if (name === '') return 'header name cannot be empty';
  if (name.toLowerCase() === 'host') return `invalid header "${name}": cannot set Host header`;
  if (isInternal(name)) return `invalid header "${name}": header cannot have ":" prefix`;
  return undefined;
}

const isSpace = (c: string): boolean => c === ' ' || c === '\t';

/** Envoy's header value format: literal text with `%VAR%` / `%VAR(args)%` substitutions and `%%` escapes. */
export function checkHeaderValueFormat(value: string): string | undefined {
  type State = 'lit' | 'var' | 'arr?' | 'str?' | 'str' | 'delim' | 'argsEnd' | 'varEnd';
  let state: State = 'lit';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    const more = i + 1 < value.length;
    switch (state) {
      case 'lit':
        if (c !== '%') break;
        if (!more) return 'invalid header configuration. Un-escaped %';
        if (value[i + 1] === '%') i++;
        else state = 'var';
        break;
      case 'var':
        if (c === '%') state = 'lit';
        else if (c === '(') state = 'arr?';
        break;
      case 'arr?':
        if (c === '[') state = 'str?';
        else if (!isSpace(c)) state = 'str';
        break;
      case 'delim':
        if (c === ',') state = 'str?';
        else if (c === ']') state = 'argsEnd';
        else if (!isSpace(c)) return "invalid header configuration. Expecting ',', ']', or whitespace";
        break;
      case 'str?':
        if (c === '"') state = 'str';
        else if (!isSpace(c)) return `invalid header configuration. Expecting '"'`;
        break;
      case 'str':
        if (c === '\\') {
          if (!more) return 'invalid header configuration. Un-terminated backslash in JSON string';
          i++;
        } else if (c === ')') state = 'varEnd';
        else if (c === '"') state = 'delim';
        break;
      case 'argsEnd':
        if (c === ')') state = 'varEnd';
        else if (!isSpace(c)) return "invalid header configuration. Expecting ')' or whitespace";
        break;
      case 'varEnd':
        if (c === '%') state = 'lit';
        else if (!isSpace(c)) return "invalid header configuration. Expecting '%' or whitespace after";
        break;
    }
  }
  return state === 'lit' ? undefined : 'invalid header configuration. Un-terminated variable expression';
}

export function checkHeaderValue(value: string): string | undefined {
  if (CONTROL.test(value)) return `header value configuration ${value} is invalid`;
  const e = checkHeaderValueFormat(value);
  return e ? `header value configuration: ${e}` : undefined;
}

/** `headers: {request: {set, add, remove}, response: {...}}` on a route or route destination. */
export function checkHeaderOperations(headers: unknown, issues: Issues): void {
  const h = obj(headers);
  if (!h) return;
  issues.push('headers');
  for (const side of ['request', 'response'] as const) {
    const ops = obj(h[side]);
    if (!ops) continue;
    for (const op of ['set', 'add'] as const) {
      const m = obj(ops[op]);
      if (!m) continue;
      for (const name of keys(m)) {
        const e = side === 'request' ? checkAddSetRequestName(name) : checkOperationName(name);
        if (e) issues.error(e, side, op);
        const ve = checkHeaderValue(str(m[name]));
        if (ve) issues.error(ve, side, op);
      }
    }
    for (const name of list(ops.remove)) {
      const e = checkOperationName(str(name));
      if (e) issues.error(e, side, 'remove');
    }
  }
  issues.pop();
}

// RE2 syntax checks (Envoy and Istio use RE2, which has no lookaround or backreferences).
import { RE2JS } from 're2js';

const cache = new Map<string, string | null>();

/** The RE2 syntax error for a pattern, or undefined when it compiles. Results are cached per pattern. */
export function re2Error(pattern: string): string | undefined {
  let result = cache.get(pattern);
  if (result === undefined) {
    try {
      RE2JS.compile(pattern);
      result = null;
    } catch (e) {
      result = (e as Error).message;
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(pattern, result);
  }
  return result ?? undefined;
}

/** Istio's message for a regular expression in field `where`; undefined when acceptable. */
export function checkRegex(pattern: string, where: string): string | undefined {
  if (pattern.length > 1024) return `"${where}": regex is too large, max length allowed is 1024`;
  const err = re2Error(pattern);
  if (err === undefined) return undefined;
  return `"${where}": ${err}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`;
}

/**
 * The semantics of Mixer's functions that CEL has no built-in for, shared by the compile-time checker (which
 * validates and folds constant arguments) and the CEL environment (which runs them on request values).
 */
import type { Value, ValueType } from '@flotilla/mixer-adapter-sdk';
import { parseIp } from '@flotilla/mixer-adapter-sdk';

/** Glob match as Mixer's match(): "abc*" is a prefix, "*abc" a suffix, anything else is exact. */
export function globMatch(value: string, pattern: string): boolean {
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

/** A function from a string to a typed value that refuses strings that do not hold one (ip("10.0.0.1")). */
export interface Converter {
  readonly result: ValueType;
  /** undefined when `text` is not a valid `what`. */
  readonly convert: (text: string) => Value | undefined;
  /** What the argument must be, for error messages ("an IP address"). */
  readonly what: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const EMAIL = /^[^@\s]+@[^@\s]+$/;
const DNS_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$/;

export const CONVERTERS = {
  ip: { result: 'IP_ADDRESS', convert: parseIp, what: 'an IP address' },
  timestamp: {
    result: 'TIMESTAMP',
    convert: (s) => (RFC3339.test(s) && !Number.isNaN(Date.parse(s)) ? new Date(s) : undefined),
    what: 'an RFC 3339 timestamp',
  },
  email: {
    result: 'EMAIL_ADDRESS',
    convert: (s) => (EMAIL.test(s) ? s : undefined),
    what: 'an e-mail address',
  },
  dnsName: { result: 'DNS_NAME', convert: (s) => (DNS_NAME.test(s) ? s : undefined), what: 'a DNS name' },
  uri: {
    result: 'URI',
    convert: (s) => {
      try {
        new URL(s);
        return s;
      } catch {
        return undefined;
      }
    },
    what: 'a URI',
  },
} satisfies Record<string, Converter>;

export type ConverterName = keyof typeof CONVERTERS;

/** Why `pattern` is not a regular expression, or undefined when it is one (Go RE2 syntax; JS RegExp here). */
export function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message}`;
  }
}

// The rule kinds of protoc-gen-validate's validate.proto (https://github.com/bufbuild/protoc-gen-validate), as
// @bufbuild/protobuf decodes the `(validate.rules)` field option. validate.proto is proto2: an unset rule keeps its
// default on the message's prototype, so "is this rule given" is an own-property test (`given`).
import { isIP } from 'node:net';
import type { DescEnum } from '@bufbuild/protobuf';
import { RE2JS } from 're2js';

/** One broken rule: where (proto field names, `[i]` for list items, `["key"]` for map entries), which, why. */
export interface Violation {
  path: string;
  /** The rule, as validate.proto names it: `string.min_len`, `message.required`, `oneof.required`, … */
  rule: string;
  message: string;
}

type Bound = number | bigint;

interface NumericRules {
  const?: Bound;
  lt?: Bound;
  lte?: Bound;
  gt?: Bound;
  gte?: Bound;
  in: Bound[];
  notIn: Bound[];
  ignoreEmpty?: boolean;
}

interface StringRules {
  const?: string;
  len?: bigint;
  minLen?: bigint;
  maxLen?: bigint;
  lenBytes?: bigint;
  minBytes?: bigint;
  maxBytes?: bigint;
  pattern?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  notContains?: string;
  in: string[];
  notIn: string[];
  wellKnown: { case: string | undefined; value?: unknown };
  strict: boolean;
  ignoreEmpty?: boolean;
}

interface BytesRules {
  const?: Uint8Array;
  len?: bigint;
  minLen?: bigint;
  maxLen?: bigint;
  prefix?: Uint8Array;
  in: Uint8Array[];
  notIn: Uint8Array[];
  wellKnown: { case: string | undefined; value?: unknown };
  ignoreEmpty?: boolean;
}

interface EnumRules {
  const?: number;
  definedOnly?: boolean;
  in: number[];
  notIn: number[];
}

export interface RepeatedRules {
  minItems?: bigint;
  maxItems?: bigint;
  unique?: boolean;
  items?: FieldRules;
  ignoreEmpty?: boolean;
}

export interface MapRules {
  minPairs?: bigint;
  maxPairs?: bigint;
  keys?: FieldRules;
  values?: FieldRules;
  ignoreEmpty?: boolean;
}

interface DurationValue {
  seconds: bigint;
  nanos: number;
}

export interface DurationRules {
  required?: boolean;
  const?: DurationValue;
  lt?: DurationValue;
  lte?: DurationValue;
  gt?: DurationValue;
  gte?: DurationValue;
  in: DurationValue[];
  notIn: DurationValue[];
}

const NUMERIC_CASES = [
  'float',
  'double',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
] as const;
type NumericCase = (typeof NUMERIC_CASES)[number];

/** validate.FieldRules: `message` beside the `type` oneof. */
export interface FieldRules {
  message?: { required?: boolean; skip?: boolean };
  type?:
    | { case: NumericCase; value: NumericRules }
    | { case: 'bool'; value: { const?: boolean } }
    | { case: 'string'; value: StringRules }
    | { case: 'bytes'; value: BytesRules }
    | { case: 'enum'; value: EnumRules }
    | { case: 'repeated'; value: RepeatedRules }
    | { case: 'map'; value: MapRules }
    | { case: 'any'; value: { required?: boolean; in: string[]; notIn: string[] } }
    | { case: 'duration'; value: DurationRules }
    | { case: 'timestamp'; value: { required?: boolean } }
    | { case: undefined; value?: undefined };
}

/** Whether a proto2 rule is given (not just its default inherited from the prototype). */
function given<T extends object>(rules: T, key: keyof T): boolean {
  return Object.prototype.hasOwnProperty.call(rules, key);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')}`;
  return String(v);
}

interface Bounds<T> {
  gt?: T;
  gte?: T;
  lt?: T;
  lte?: T;
}

/**
 * PGV's range semantics: with a lower and an upper bound, the value must lie between them when upper > lower,
 * and outside them when upper <= lower ("exclusive range"); with one bound, just that comparison.
 */
function checkBounds<T>(
  value: T,
  bounds: Bounds<T>,
  has: (key: keyof Bounds<T>) => boolean,
  cmp: (a: T, b: T) => number,
  kind: string,
  path: string,
  out: Violation[],
): void {
  type Key = keyof Bounds<T>;
  const lowerKey: Key | undefined = has('gt') ? 'gt' : has('gte') ? 'gte' : undefined;
  const upperKey: Key | undefined = has('lt') ? 'lt' : has('lte') ? 'lte' : undefined;
  const ok = (key: Key) => {
    const c = cmp(value, bounds[key] as T);
    return key === 'gt' ? c > 0 : key === 'gte' ? c >= 0 : key === 'lt' ? c < 0 : c <= 0;
  };
  const op: Record<Key, string> = { gt: '>', gte: '>=', lt: '<', lte: '<=' };
  const fmt = (v: T) => (kind === 'duration' ? `${String(v)}ns` : String(v));
  if (lowerKey && upperKey && cmp(bounds[upperKey] as T, bounds[lowerKey] as T) <= 0) {
    if (!ok(lowerKey) && !ok(upperKey)) {
      out.push({
        path,
        rule: `${kind}.${lowerKey}`,
        message: `${kind} ${fmt(value)} must be ${op[upperKey]} ${fmt(bounds[upperKey] as T)} or ${op[lowerKey]} ${fmt(bounds[lowerKey] as T)}`,
      });
    }
    return;
  }
  for (const key of [lowerKey, upperKey] as (Key | undefined)[]) {
    if (key && !ok(key)) {
      out.push({
        path,
        rule: `${kind}.${key}`,
        message: `${kind} ${fmt(value)} must be ${op[key]} ${fmt(bounds[key] as T)}`,
      });
    }
  }
}

function compareNumbers(a: Bound, b: Bound): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Integers compare exactly as bigint (int64 rules and values arrive as bigint, 32-bit ones as number). */
function numeric(v: unknown, isFloat: boolean): Bound {
  if (isFloat) return Number(v);
  return typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
}

function checkNumeric(
  kind: NumericCase,
  r: NumericRules,
  raw: unknown,
  path: string,
  out: Violation[],
): void {
  const isFloat = kind === 'float' || kind === 'double';
  const value = numeric(raw, isFloat);
  if (r.ignoreEmpty && compareNumbers(value, numeric(0, isFloat)) === 0) return;
  if (given(r, 'const') && compareNumbers(value, numeric(r.const, isFloat)) !== 0) {
    out.push({ path, rule: `${kind}.const`, message: `${kind} ${value} must equal ${r.const}` });
  }
  const bounds: Bounds<Bound> = {};
  for (const key of ['gt', 'gte', 'lt', 'lte'] as const)
    if (given(r, key)) bounds[key] = numeric(r[key], isFloat);
  checkBounds(value, bounds, (k) => given(r, k), compareNumbers, kind, path, out);
  const member = (list: Bound[]) => list.some((v) => compareNumbers(value, numeric(v, isFloat)) === 0);
  if (r.in.length > 0 && !member(r.in)) {
    out.push({ path, rule: `${kind}.in`, message: `${kind} ${value} not in [${r.in.join(', ')}]` });
  }
  if (member(r.notIn)) out.push({ path, rule: `${kind}.not_in`, message: `${kind} ${value} is not allowed` });
}

// protoc-gen-validate's well-known header regexes (RFC 7230); `strict: false` only forbids NUL, CR and LF.
const HEADER_NAME = RE2JS.compile("^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$");
const HEADER_VALUE = RE2JS.compile('^[^\\x00-\\x08\\x0A-\\x1F\\x7F]*$');
const HEADER_STRING = RE2JS.compile('^[^\\x00\\x0A\\x0D]*$');
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const patterns = new Map<string, RE2JS>();
function re2(pattern: string): RE2JS {
  let compiled = patterns.get(pattern);
  if (!compiled) patterns.set(pattern, (compiled = RE2JS.compile(pattern)));
  return compiled;
}

/** RFC 1123 host names as PGV checks them: at most 253 bytes, labels of 1–63 letters, digits and inner hyphens. */
function isHostname(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((l) => /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(l));
}

function isAbsoluteUri(s: string): boolean {
  try {
    return new URL(s).protocol.length > 1;
  } catch {
    return false;
  }
}

/** The well_known string rules Envoy's protos use; the rest (email, uri_ref) report that they are unchecked. */
function checkWellKnownString(r: StringRules, s: string, path: string, out: Violation[]): void {
  const wk = r.wellKnown;
  if (!wk.case || wk.value === false) return;
  // The oneof case is the TypeScript name (wellKnownRegex); violations name the rule as validate.proto does.
  const rule = `string.${wk.case.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
  const fail = (what: string) => out.push({ path, rule, message: `${show(s)} is not ${what}` });
  switch (wk.case) {
    case 'wellKnownRegex': {
      if (wk.value === 1) {
        if (!(r.strict ? HEADER_NAME : HEADER_STRING).matcher(s).matches()) fail('a valid HTTP header name');
      } else if (wk.value === 2) {
        if (!(r.strict ? HEADER_VALUE : HEADER_STRING).matcher(s).matches())
          fail('a valid HTTP header value');
      }
      return;
    }
    case 'hostname':
      if (!isHostname(s)) fail('a host name');
      return;
    case 'ip':
      if (isIP(s) === 0) fail('an IP address');
      return;
    case 'ipv4':
      if (isIP(s) !== 4) fail('an IPv4 address');
      return;
    case 'ipv6':
      if (isIP(s) !== 6) fail('an IPv6 address');
      return;
    case 'address':
      if (isIP(s) === 0 && !isHostname(s)) fail('an IP address or host name');
      return;
    case 'uri':
      if (!isAbsoluteUri(s)) fail('an absolute URI');
      return;
    case 'uuid':
      if (!UUID.test(s)) fail('a UUID');
      return;
    default:
      out.push({
        path,
        rule,
        message: `rule ${rule} is not checked by this checker`,
      });
  }
}

function checkString(r: StringRules, s: string, path: string, out: Violation[]): void {
  if (r.ignoreEmpty && s === '') return;
  const runes = [...s].length;
  const bytes = Buffer.byteLength(s, 'utf8');
  const push = (rule: string, message: string) => out.push({ path, rule: `string.${rule}`, message });
  if (given(r, 'const') && s !== r.const) push('const', `string ${show(s)} must equal ${show(r.const)}`);
  if (given(r, 'len') && BigInt(runes) !== r.len) push('len', `string length ${runes} != len ${r.len}`);
  if (given(r, 'minLen') && BigInt(runes) < r.minLen!)
    push('min_len', `string length ${runes} < min_len ${r.minLen}`);
  if (given(r, 'maxLen') && BigInt(runes) > r.maxLen!)
    push('max_len', `string length ${runes} > max_len ${r.maxLen}`);
  if (given(r, 'lenBytes') && BigInt(bytes) !== r.lenBytes)
    push('len_bytes', `string bytes ${bytes} != len_bytes ${r.lenBytes}`);
  if (given(r, 'minBytes') && BigInt(bytes) < r.minBytes!)
    push('min_bytes', `string bytes ${bytes} < min_bytes ${r.minBytes}`);
  if (given(r, 'maxBytes') && BigInt(bytes) > r.maxBytes!)
    push('max_bytes', `string bytes ${bytes} > max_bytes ${r.maxBytes}`);
  if (given(r, 'pattern') && !re2(r.pattern!).matcher(s).find())
    push('pattern', `${show(s)} does not match ${r.pattern}`);
  if (given(r, 'prefix') && !s.startsWith(r.prefix!))
    push('prefix', `${show(s)} does not start with ${show(r.prefix)}`);
  if (given(r, 'suffix') && !s.endsWith(r.suffix!))
    push('suffix', `${show(s)} does not end with ${show(r.suffix)}`);
  if (given(r, 'contains') && !s.includes(r.contains!))
    push('contains', `${show(s)} does not contain ${show(r.contains)}`);
  if (given(r, 'notContains') && s.includes(r.notContains!))
    push('not_contains', `${show(s)} contains ${show(r.notContains)}`);
  if (r.in.length > 0 && !r.in.includes(s)) push('in', `${show(s)} not in [${r.in.map(show).join(', ')}]`);
  if (r.notIn.includes(s)) push('not_in', `${show(s)} is not allowed`);
  checkWellKnownString(r, s, path, out);
}

function checkBytesValue(r: BytesRules, b: Uint8Array, path: string, out: Violation[]): void {
  if (r.ignoreEmpty && b.length === 0) return;
  const buf = Buffer.from(b);
  const push = (rule: string, message: string) => out.push({ path, rule: `bytes.${rule}`, message });
  if (given(r, 'const') && !buf.equals(Buffer.from(r.const!)))
    push('const', `${show(b)} must equal ${show(r.const)}`);
  if (given(r, 'len') && BigInt(b.length) !== r.len) push('len', `bytes length ${b.length} != len ${r.len}`);
  if (given(r, 'minLen') && BigInt(b.length) < r.minLen!)
    push('min_len', `bytes length ${b.length} < min_len ${r.minLen}`);
  if (given(r, 'maxLen') && BigInt(b.length) > r.maxLen!)
    push('max_len', `bytes length ${b.length} > max_len ${r.maxLen}`);
  if (given(r, 'prefix') && !buf.subarray(0, r.prefix!.length).equals(Buffer.from(r.prefix!))) {
    push('prefix', `${show(b)} does not start with ${show(r.prefix)}`);
  }
  const member = (list: Uint8Array[]) => list.some((v) => buf.equals(Buffer.from(v)));
  if (r.in.length > 0 && !member(r.in)) push('in', `${show(b)} is not one of the allowed values`);
  if (member(r.notIn)) push('not_in', `${show(b)} is not allowed`);
  const wk = r.wellKnown;
  if (wk.case === 'ip' && wk.value && b.length !== 4 && b.length !== 16) push('ip', 'not 4 or 16 bytes');
  if (wk.case === 'ipv4' && wk.value && b.length !== 4) push('ipv4', 'not 4 bytes');
  if (wk.case === 'ipv6' && wk.value && b.length !== 16) push('ipv6', 'not 16 bytes');
}

function checkEnum(
  r: EnumRules,
  value: number,
  desc: DescEnum | undefined,
  path: string,
  out: Violation[],
): void {
  if (given(r, 'const') && value !== r.const) {
    out.push({ path, rule: 'enum.const', message: `enum value ${value} must equal ${r.const}` });
  }
  if (r.definedOnly && desc && !desc.values.some((v) => v.number === value)) {
    out.push({
      path,
      rule: 'enum.defined_only',
      message: `enum value ${value} is not defined in ${desc.typeName}`,
    });
  }
  if (r.in.length > 0 && !r.in.includes(value)) {
    out.push({ path, rule: 'enum.in', message: `enum value ${value} not in [${r.in.join(', ')}]` });
  }
  if (r.notIn.includes(value))
    out.push({ path, rule: 'enum.not_in', message: `enum value ${value} is not allowed` });
}

/** The rules of a scalar, enum, or the value of a wrapper (google.protobuf.UInt32Value and the like). */
export function checkScalar(
  rules: FieldRules,
  value: unknown,
  enumDesc: DescEnum | undefined,
  path: string,
  out: Violation[],
): void {
  const t = rules.type;
  if (!t?.case) return;
  switch (t.case) {
    case 'string':
      if (typeof value === 'string') checkString(t.value, value, path, out);
      return;
    case 'bytes':
      if (value instanceof Uint8Array) checkBytesValue(t.value, value, path, out);
      return;
    case 'bool':
      if (given(t.value, 'const') && value !== t.value.const) {
        out.push({ path, rule: 'bool.const', message: `bool ${show(value)} must equal ${t.value.const}` });
      }
      return;
    case 'enum':
      checkEnum(t.value, Number(value), enumDesc, path, out);
      return;
    default:
      if ((NUMERIC_CASES as readonly string[]).includes(t.case)) {
        checkNumeric(t.case as NumericCase, t.value as NumericRules, value, path, out);
      }
  }
}

export function checkRepeatedCount(r: RepeatedRules, size: number, path: string, out: Violation[]): void {
  if (given(r, 'minItems') && BigInt(size) < r.minItems!) {
    out.push({ path, rule: 'repeated.min_items', message: `${size} items < min_items ${r.minItems}` });
  }
  if (given(r, 'maxItems') && BigInt(size) > r.maxItems!) {
    out.push({ path, rule: 'repeated.max_items', message: `${size} items > max_items ${r.maxItems}` });
  }
}

export function checkMapCount(r: MapRules, size: number, path: string, out: Violation[]): void {
  if (given(r, 'minPairs') && BigInt(size) < r.minPairs!) {
    out.push({ path, rule: 'map.min_pairs', message: `${size} pairs < min_pairs ${r.minPairs}` });
  }
  if (given(r, 'maxPairs') && BigInt(size) > r.maxPairs!) {
    out.push({ path, rule: 'map.max_pairs', message: `${size} pairs > max_pairs ${r.maxPairs}` });
  }
}

export function durationNanos(seconds: bigint, nanos: number): bigint {
  return BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
}

function nanosOf(d: DurationValue): bigint {
  return durationNanos(d.seconds, d.nanos);
}

export function checkDuration(r: DurationRules, nanos: bigint, path: string, out: Violation[]): void {
  if (given(r, 'const') && nanos !== nanosOf(r.const!)) {
    out.push({
      path,
      rule: 'duration.const',
      message: `duration ${nanos}ns must equal ${nanosOf(r.const!)}ns`,
    });
  }
  const bounds: Bounds<bigint> = {};
  for (const key of ['gt', 'gte', 'lt', 'lte'] as const) if (given(r, key)) bounds[key] = nanosOf(r[key]!);
  checkBounds(nanos, bounds, (k) => given(r, k), compareNumbers, 'duration', path, out);
  if (r.in.length > 0 && !r.in.some((d) => nanosOf(d) === nanos)) {
    out.push({ path, rule: 'duration.in', message: `duration ${nanos}ns is not one of the allowed values` });
  }
  if (r.notIn.some((d) => nanosOf(d) === nanos)) {
    out.push({ path, rule: 'duration.not_in', message: `duration ${nanos}ns is not allowed` });
  }
}

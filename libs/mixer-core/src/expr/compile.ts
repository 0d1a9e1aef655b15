/**
 * Type-checks a parsed CEXL expression against the attribute manifest and compiles it to a tree of closures.
 *
 * Why closures and not CEL: the issue suggests compiling to CEL through @bufbuild/cel or @marcbachmann/cel-js.
 * Mixer's language does not map onto CEL cleanly: its `|` operator falls back when an attribute is *absent*
 * (CEL has no absence-tolerant operator; it would need `has()` rewrites around every map and attribute access),
 * attribute names contain dots that CEL reads as field selection on undeclared variables, and the Check API must
 * report exactly which attributes and map keys a decision looked at (ReferencedAttributes, the client's cache
 * key), which needs hooks inside every lookup that CEL evaluators do not offer. Compiling our own typed AST to
 * closures once per config costs one function call per node at request time, no CEL activation object per
 * request, and keeps absence tracking exact. The expression is still checked ahead of time against the manifest,
 * as CEL would, and a bad expression is rejected with the offset of the offending token.
 */
import type { Value, ValueType } from '@flotilla/mixer-adapter-sdk';
import { isDuration, parseIp } from '@flotilla/mixer-adapter-sdk';
import type { AttributeBag, ReferenceTracker } from '../attributes/bag';
import { ExpressionError, parseExpression } from './parser';
import type { Node } from './parser';

export interface EvalContext {
  readonly bag: AttributeBag;
  /** Set during Check, to record what the decision depended on. */
  readonly refs?: ReferenceTracker;
}

/** Evaluation failed for this request (an absent attribute without a `|` default, a value of the wrong type). */
export class EvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalError';
  }
}

/** Returns undefined for "absent" (only attribute lookups, map lookups and `|` chains of them can be absent). */
type Fn = (ctx: EvalContext) => Value | undefined;

export interface CompiledExpression {
  readonly source: string;
  readonly type: ValueType;
  /** The value, or throws EvalError (including when the result is absent). */
  evaluate(ctx: EvalContext): Value;
  /** The value, or undefined when it is absent; throws EvalError on other failures. */
  evaluateOptional(ctx: EvalContext): Value | undefined;
}

export interface TypeEnv {
  typeOf(attribute: string): ValueType | undefined;
}

interface Typed {
  type: ValueType;
  fn: Fn;
  /** Set when the node's value is known at compile time. */
  constant?: Value;
  /** Whether the value can be absent at run time. */
  optional: boolean;
}

const STRINGISH: ReadonlySet<ValueType> = new Set(['STRING', 'EMAIL_ADDRESS', 'URI', 'DNS_NAME']);
const NUMERIC: ReadonlySet<ValueType> = new Set(['INT64', 'DOUBLE']);

function runtimeKindMatches(v: Value, t: ValueType): boolean {
  switch (t) {
    case 'STRING':
    case 'EMAIL_ADDRESS':
    case 'URI':
    case 'DNS_NAME':
      return typeof v === 'string';
    case 'INT64':
    case 'DOUBLE':
      return typeof v === 'number';
    case 'BOOL':
      return typeof v === 'boolean';
    case 'TIMESTAMP':
      return v instanceof Date;
    case 'IP_ADDRESS':
      return v instanceof Uint8Array;
    case 'DURATION':
      return isDuration(v);
    case 'STRING_MAP':
      return typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array);
  }
}

function comparable(a: ValueType, b: ValueType): boolean {
  return a === b || (NUMERIC.has(a) && NUMERIC.has(b)) || (STRINGISH.has(a) && STRINGISH.has(b));
}

function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b));
  if (isDuration(a) && isDuration(b)) return a.seconds === b.seconds && a.nanos === b.nanos;
  if (typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    const ma = a as Record<string, string>;
    const mb = b as Record<string, string>;
    return ka.length === kb.length && ka.every((k) => mb[k] === ma[k]);
  }
  return false;
}

function orderKey(v: Value): number | string {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (v instanceof Date) return v.getTime();
  if (isDuration(v)) return v.seconds * 1e9 + v.nanos;
  throw new EvalError('value is not ordered');
}

/** Glob match as Mixer's match(): "abc*" is a prefix, "*abc" a suffix, anything else is exact. */
export function globMatch(value: string, pattern: string): boolean {
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze(Object.create(null));

interface FunctionSpec {
  args: readonly (ValueType | 'T' | 'ANY')[];
  result: ValueType | 'T';
  /** Called with evaluated arguments (receiver first for methods). */
  impl: (...args: Value[]) => Value;
  method?: boolean;
  /** Validates constant arguments at compile time (returns a problem). */
  checkConstant?: (args: Value[]) => string | undefined;
}

function converter(
  name: string,
  result: ValueType,
  convert: (s: string) => Value | undefined,
  what: string,
): FunctionSpec {
  return {
    args: ['STRING'],
    result,
    impl: (s) => {
      const v = convert(s as string);
      if (v === undefined) throw new EvalError(`${name}(${JSON.stringify(s)}): not ${what}`);
      return v;
    },
    checkConstant: ([s]) =>
      convert(s as string) === undefined ? `${JSON.stringify(s)} is not ${what}` : undefined,
  };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const FUNCTIONS: Record<string, FunctionSpec> = {
  match: { args: ['STRING', 'STRING'], result: 'BOOL', impl: (v, p) => globMatch(v as string, p as string) },
  ip: converter('ip', 'IP_ADDRESS', parseIp, 'an IP address'),
  timestamp: converter(
    'timestamp',
    'TIMESTAMP',
    (s) => (RFC3339.test(s) && !Number.isNaN(Date.parse(s)) ? new Date(s) : undefined),
    'an RFC 3339 timestamp',
  ),
  email: converter(
    'email',
    'EMAIL_ADDRESS',
    (s) => (/^[^@\s]+@[^@\s]+$/.test(s) ? s : undefined),
    'an e-mail address',
  ),
  dnsName: converter(
    'dnsName',
    'DNS_NAME',
    (s) => (/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$/.test(s) ? s : undefined),
    'a DNS name',
  ),
  uri: converter(
    'uri',
    'URI',
    (s) => {
      try {
        new URL(s);
        return s;
      } catch {
        return undefined;
      }
    },
    'a URI',
  ),
  emptyStringMap: { args: [], result: 'STRING_MAP', impl: () => EMPTY_MAP },
  conditional: { args: ['BOOL', 'T', 'T'], result: 'T', impl: (c, a, b) => (c ? a : b) },
  toLower: { args: ['STRING'], result: 'STRING', impl: (s) => (s as string).toLowerCase() },
  startsWith: {
    args: ['STRING', 'STRING'],
    result: 'BOOL',
    method: true,
    impl: (s, p) => (s as string).startsWith(p as string),
  },
  endsWith: {
    args: ['STRING', 'STRING'],
    result: 'BOOL',
    method: true,
    impl: (s, p) => (s as string).endsWith(p as string),
  },
  // "svc.*".matches(destination.service): the receiver is the pattern (Go RE2 syntax; JS RegExp here).
  matches: {
    args: ['STRING', 'STRING'],
    result: 'BOOL',
    method: true,
    impl: (p, s) => new RegExp(p as string).test(s as string),
    checkConstant: ([p]) => {
      try {
        new RegExp(p as string);
        return undefined;
      } catch (err) {
        return `invalid regular expression: ${(err as Error).message}`;
      }
    },
  },
};

class Compiler {
  constructor(
    private readonly src: string,
    private readonly env: TypeEnv,
  ) {}

  private fail(pos: number, reason: string): never {
    throw new ExpressionError(this.src, pos, reason);
  }

  /** Wraps `fn` so an absent value is an error naming what was absent. */
  private need(t: Typed, what: string): (ctx: EvalContext) => Value {
    const fn = t.fn;
    if (!t.optional) return fn as (ctx: EvalContext) => Value;
    return (ctx) => {
      const v = fn(ctx);
      if (v === undefined) throw new EvalError(`${what} is absent`);
      return v;
    };
  }

  private constant(type: ValueType, value: Value): Typed {
    return { type, fn: () => value, constant: value, optional: false };
  }

  compile(n: Node): Typed {
    switch (n.kind) {
      case 'string':
        return this.constant('STRING', n.value);
      case 'int':
        return this.constant('INT64', n.value);
      case 'double':
        return this.constant('DOUBLE', n.value);
      case 'bool':
        return this.constant('BOOL', n.value);
      case 'attr':
        return this.attribute(n.name, n.pos);
      case 'index':
        return this.index(n);
      case 'unary': {
        const operand = this.compile(n.operand);
        if (n.op === '!') {
          if (operand.type !== 'BOOL') this.fail(n.pos, `! needs a BOOL, not ${operand.type}`);
          const f = this.need(operand, describe(n.operand));
          return { type: 'BOOL', fn: (ctx) => !f(ctx), optional: false };
        }
        if (!NUMERIC.has(operand.type)) this.fail(n.pos, `unary - needs a number, not ${operand.type}`);
        const f = this.need(operand, describe(n.operand));
        return { type: operand.type, fn: (ctx) => -(f(ctx) as number), optional: false };
      }
      case 'binary':
        return this.binary(n);
      case 'call':
        return this.call(n);
    }
  }

  private attribute(name: string, pos: number): Typed {
    const type = this.env.typeOf(name);
    if (type === undefined) this.fail(pos, `unknown attribute ${name}`);
    return {
      type,
      optional: true,
      fn: (ctx) => {
        const v = ctx.bag.get(name);
        ctx.refs?.attribute(name, v !== undefined);
        if (v !== undefined && !runtimeKindMatches(v, type))
          throw new EvalError(`attribute ${name} does not hold a ${type}`);
        return v;
      },
    };
  }

  private index(n: Extract<Node, { kind: 'index' }>): Typed {
    const key = this.compile(n.key);
    if (!STRINGISH.has(key.type)) this.fail(n.key.pos, `a map key must be a STRING, not ${key.type}`);
    // request.headers["x"] with a constant key: record the key (not the whole map) as referenced.
    if (n.target.kind === 'attr' && key.constant !== undefined) {
      const name = n.target.name;
      const type = this.env.typeOf(name);
      if (type === undefined) this.fail(n.target.pos, `unknown attribute ${name}`);
      if (type !== 'STRING_MAP')
        this.fail(n.pos, `${name} is ${type}, not a STRING_MAP, and cannot be indexed`);
      const k = key.constant as string;
      return {
        type: 'STRING',
        optional: true,
        fn: (ctx) => {
          const map = ctx.bag.get(name);
          if (map === undefined) {
            ctx.refs?.mapAbsent(name);
            return undefined;
          }
          if (!runtimeKindMatches(map, 'STRING_MAP'))
            throw new EvalError(`attribute ${name} does not hold a STRING_MAP`);
          const v = (map as Record<string, string>)[k];
          const present = typeof v === 'string';
          ctx.refs?.mapKey(name, k, present);
          return present ? v : undefined;
        },
      };
    }
    const target = this.compile(n.target);
    if (target.type !== 'STRING_MAP')
      this.fail(n.pos, `${target.type} cannot be indexed; only STRING_MAP can`);
    const kf = this.need(key, describe(n.key));
    const tf = target.fn;
    return {
      type: 'STRING',
      optional: true,
      fn: (ctx) => {
        const map = tf(ctx);
        if (map === undefined) return undefined;
        const v = (map as Record<string, string>)[kf(ctx) as string];
        return typeof v === 'string' ? v : undefined;
      },
    };
  }

  private binary(n: Extract<Node, { kind: 'binary' }>): Typed {
    const left = this.compile(n.left);
    const right = this.compile(n.right);
    const op = n.op;
    if (op === '|') {
      if (!comparable(left.type, right.type))
        this.fail(n.pos, `both sides of | must have the same type, not ${left.type} and ${right.type}`);
      const lf = left.fn;
      const rf = right.fn;
      return {
        type: left.type,
        optional: right.optional,
        fn: (ctx) => {
          const v = lf(ctx);
          return v !== undefined ? v : rf(ctx);
        },
      };
    }
    const l = this.need(left, describe(n.left));
    const r = this.need(right, describe(n.right));
    switch (op) {
      case '&&':
      case '||': {
        if (left.type !== 'BOOL' || right.type !== 'BOOL')
          this.fail(n.pos, `${op} needs BOOL operands, not ${left.type} and ${right.type}`);
        const fn: Fn =
          op === '&&' ? (ctx) => (l(ctx) as boolean) && r(ctx) : (ctx) => (l(ctx) as boolean) || r(ctx);
        return { type: 'BOOL', fn, optional: false };
      }
      case '==':
      case '!=': {
        if (!comparable(left.type, right.type))
          this.fail(n.pos, `cannot compare ${left.type} with ${right.type}`);
        const fn: Fn = op === '==' ? (ctx) => equal(l(ctx), r(ctx)) : (ctx) => !equal(l(ctx), r(ctx));
        return { type: 'BOOL', fn, optional: false };
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const ordered =
          (NUMERIC.has(left.type) && NUMERIC.has(right.type)) ||
          (left.type === right.type && ['STRING', 'TIMESTAMP', 'DURATION'].includes(left.type));
        if (!ordered) this.fail(n.pos, `cannot order ${left.type} and ${right.type} with ${op}`);
        const cmp = (ctx: EvalContext) => {
          const a = orderKey(l(ctx));
          const b = orderKey(r(ctx));
          return a < b ? -1 : a > b ? 1 : 0;
        };
        const test = {
          '<': (c: number) => c < 0,
          '<=': (c: number) => c <= 0,
          '>': (c: number) => c > 0,
          '>=': (c: number) => c >= 0,
        }[op];
        return { type: 'BOOL', fn: (ctx) => test(cmp(ctx)), optional: false };
      }
      case '+':
      case '-': {
        if (op === '+' && STRINGISH.has(left.type) && STRINGISH.has(right.type))
          return { type: 'STRING', fn: (ctx) => (l(ctx) as string) + (r(ctx) as string), optional: false };
        if (!NUMERIC.has(left.type) || !NUMERIC.has(right.type))
          this.fail(
            n.pos,
            `${op} needs numbers${op === '+' ? ' or strings' : ''}, not ${left.type} and ${right.type}`,
          );
        const type: ValueType = left.type === 'INT64' && right.type === 'INT64' ? 'INT64' : 'DOUBLE';
        const fn: Fn =
          op === '+'
            ? (ctx) => (l(ctx) as number) + (r(ctx) as number)
            : (ctx) => (l(ctx) as number) - (r(ctx) as number);
        return { type, fn, optional: false };
      }
    }
  }

  private call(n: Extract<Node, { kind: 'call' }>): Typed {
    const spec = FUNCTIONS[n.fn];
    if (!spec) this.fail(n.pos, `unknown function ${n.fn}`);
    if (!!spec.method !== (n.target !== undefined))
      this.fail(
        n.pos,
        spec.method
          ? `${n.fn} is a method: write x.${n.fn}(...)`
          : `${n.fn} is a function: write ${n.fn}(...)`,
      );
    const argNodes = n.target ? [n.target, ...n.args] : n.args;
    if (argNodes.length !== spec.args.length)
      this.fail(
        n.pos,
        `${n.fn} takes ${spec.args.length - (spec.method ? 1 : 0)} argument(s), got ${n.args.length}`,
      );
    const args = argNodes.map((a) => this.compile(a));
    let generic: ValueType | undefined;
    args.forEach((a, i) => {
      const want = spec.args[i];
      if (want === 'ANY') return;
      if (want === 'T') {
        if (generic === undefined) generic = a.type;
        else if (!comparable(generic, a.type))
          this.fail(
            argNodes[i].pos,
            `${n.fn}: arguments must have the same type, not ${generic} and ${a.type}`,
          );
        return;
      }
      if (!(a.type === want || (STRINGISH.has(want) && STRINGISH.has(a.type))))
        this.fail(argNodes[i].pos, `${n.fn}: argument ${i + 1} must be ${want}, not ${a.type}`);
    });
    const type = spec.result === 'T' ? generic! : spec.result;
    if (args.every((a) => a.constant !== undefined)) {
      const values = args.map((a) => a.constant!);
      const problem = spec.checkConstant?.(values);
      if (problem) this.fail(argNodes[0].pos, `${n.fn}: ${problem}`);
      return this.constant(type, spec.impl(...values));
    }
    if (n.fn === 'matches' && args[0].constant !== undefined) {
      const problem = spec.checkConstant?.([args[0].constant]);
      if (problem) this.fail(argNodes[0].pos, problem);
      const re = new RegExp(args[0].constant as string);
      const s = this.need(args[1], describe(argNodes[1]));
      return { type: 'BOOL', fn: (ctx) => re.test(s(ctx) as string), optional: false };
    }
    if (n.fn === 'conditional') {
      // Only the chosen branch is evaluated (and may be absent).
      const c = this.need(args[0], describe(argNodes[0]));
      const [a, b] = [args[1].fn, args[2].fn];
      return {
        type,
        fn: (ctx) => (c(ctx) ? a(ctx) : b(ctx)),
        optional: args[1].optional || args[2].optional,
      };
    }
    const fs = args.map((a, i) => this.need(a, describe(argNodes[i])));
    const impl = spec.impl;
    const fn: Fn =
      fs.length === 1
        ? (ctx) => impl(fs[0](ctx))
        : fs.length === 2
          ? (ctx) => impl(fs[0](ctx), fs[1](ctx))
          : (ctx) => impl(...fs.map((f) => f(ctx)));
    return { type, fn, optional: false };
  }
}

function describe(n: Node): string {
  switch (n.kind) {
    case 'attr':
      return `attribute ${n.name}`;
    case 'index':
      return n.target.kind === 'attr' && n.key.kind === 'string'
        ? `${n.target.name}[${JSON.stringify(n.key.value)}]`
        : 'map entry';
    default:
      return 'value';
  }
}

/**
 * Parses, type-checks and compiles `source`. With `expected`, the result must have that type (string-like types
 * are interchangeable). Throws ExpressionError with the offending position.
 */
export function compileExpression(source: string, env: TypeEnv, expected?: ValueType): CompiledExpression {
  const ast = parseExpression(source);
  const typed = new Compiler(source, env).compile(ast);
  if (expected && !comparable(expected, typed.type)) {
    throw new ExpressionError(source, 0, `expression has type ${typed.type} but ${expected} is required`);
  }
  const fn = typed.fn;
  return {
    source,
    type: typed.type,
    evaluateOptional: fn,
    evaluate: (ctx) => {
      const v = fn(ctx);
      if (v === undefined) throw new EvalError(`${source}: value is absent`);
      return v;
    },
  };
}

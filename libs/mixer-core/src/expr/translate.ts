/**
 * Type-checks a parsed Mixer expression against the attribute manifest and translates it to CEL source text.
 *
 * Each sub-expression becomes two pieces of CEL: its value, and, when Mixer's value can be absent (an attribute,
 * a map entry, a `|` chain of them), a bool that is true when it is present. Reading the value of something absent
 * fails, as Mixer's evaluation does; `a | b` reads `a` only when its presence test holds:
 *
 *   request.size | 0                     →  has(attributes.request__size) ? attributes.request__size : 0
 *   request.headers["x-user"] | ""       →  attributes.hasMapEntry("request.headers", "x-user")
 *                                              ? attributes.mapEntry("request.headers", "x-user") : ""
 *
 * so the default applies exactly when an attribute or map key is absent. Mixer's `&&` and `||` evaluate left to
 * right and fail when an operand fails, while CEL's are commutative over errors (`error || true` is true), so
 * they become conditionals: `a && b` → `a ? b : false`, `a || b` → `a ? true : b`. INT64 mixed with DOUBLE is
 * converted with double(), as CEL has no mixed arithmetic or equality (and `a | b` of the two is a DOUBLE).
 *
 * One order differs from Mixer's: cel-js evaluates a call's arguments last to first. When more than one of them
 * fails, the lookups recorded before the failure are not the ones Mixer's left-to-right order records; either set
 * leads every request that matches it to the same failure, so the Check cache key stays sound.
 */
import type { Value, ValueType } from '@flotilla/mixer-adapter-sdk';
import { ATTRIBUTES, CEL_FUNCTIONS, fieldOf } from './cel-env';
import { CONVERTERS, globMatch, regexProblem } from './functions';
import type { ConverterName } from './functions';
import { ExpressionError } from './parser';
import type { Node } from './parser';

export interface TypeEnv {
  typeOf(attribute: string): ValueType | undefined;
  /** Every attribute with its type (an AttributeManifest is one): the fields of CEL's `attributes`. */
  entries(): Iterable<readonly [string, { readonly valueType: ValueType }]>;
}

/** A CEL expression as text, whether it must be parenthesised to be an operand, and how deep it nests. */
interface Cel {
  readonly text: string;
  readonly compound: boolean;
  readonly depth: number;
}

/** A checked sub-expression and its translation. */
export interface Typed {
  readonly type: ValueType;
  /** Its value; evaluating it fails when the value is absent. */
  readonly value: Cel;
  /** A bool that is true when the value is present; undefined when it always is. */
  readonly present?: Cel;
  /** Set when the value is known at compile time. */
  readonly constant?: Value;
  /** For a `|` chain: its operands, the first present of which is its value. */
  readonly alternatives?: readonly Typed[];
}

const STRINGISH: ReadonlySet<ValueType> = new Set(['STRING', 'EMAIL_ADDRESS', 'URI', 'DNS_NAME']);
const NUMERIC: ReadonlySet<ValueType> = new Set(['INT64', 'DOUBLE']);

export function comparable(a: ValueType, b: ValueType): boolean {
  return a === b || (NUMERIC.has(a) && NUMERIC.has(b)) || (STRINGISH.has(a) && STRINGISH.has(b));
}

const depthOf = (parts: Cel[]): number => parts.reduce((d, p) => Math.max(d, p.depth + 1), 0);
/** CEL text made of `parts` that needs no parentheses as an operand (a name, a call, a literal). */
const atom = (text: string, ...parts: Cel[]): Cel => ({ text, compound: false, depth: depthOf(parts) });
/** CEL text made of `parts` that needs parentheses as an operand. */
const compound = (text: string, ...parts: Cel[]): Cel => ({ text, compound: true, depth: depthOf(parts) });
const operand = (c: Cel): string => (c.compound ? `(${c.text})` : c.text);
const conditional = (c: Cel, a: Cel, b: Cel): Cel =>
  compound(`${operand(c)} ? ${operand(a)} : ${operand(b)}`, c, a, b);
const TRUE = atom('true');
const FALSE = atom('false');

/** A CEL string literal: quotes, backslashes and control characters escaped, everything else as it is. */
export function celString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function celDouble(v: number): Cel {
  if (!Number.isFinite(v)) return atom(`double(${celString(String(v))})`);
  const s = String(v);
  const text = /[.e]/.test(s) ? s : `${s}.0`;
  return v < 0 ? compound(text) : atom(text);
}

/** A compile-time value as a CEL literal; undefined for types CEL has no literal for (TIMESTAMP, DURATION). */
function literal(type: ValueType, v: Value): Cel | undefined {
  switch (type) {
    case 'STRING':
    case 'EMAIL_ADDRESS':
    case 'URI':
    case 'DNS_NAME':
      return atom(celString(v as string));
    case 'INT64':
      return (v as number) < 0 ? compound(String(v)) : atom(String(v));
    case 'DOUBLE':
      return celDouble(v as number);
    case 'BOOL':
      return v ? TRUE : FALSE;
    case 'IP_ADDRESS':
      return atom(
        `b"${Array.from(v as Uint8Array, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`,
      );
    case 'STRING_MAP':
      return Object.keys(v).length === 0 ? atom('{}') : undefined;
    case 'TIMESTAMP':
    case 'DURATION':
      return undefined;
  }
}

/** `t` as a double when it is an INT64 and `other` is a DOUBLE (CEL does not mix int and double). */
function widen(t: Typed, other: ValueType): Cel {
  if (t.type !== 'INT64' || other !== 'DOUBLE') return t.value;
  return t.constant !== undefined
    ? celDouble(t.constant as number)
    : atom(`double(${t.value.text})`, t.value);
}

/** The type of a value that is either `a` or `b` (comparable): DOUBLE when numbers mix, otherwise `a`. */
function joinType(a: ValueType, b: ValueType): ValueType {
  return NUMERIC.has(a) && a !== b ? 'DOUBLE' : a;
}

/**
 * `a | b | c`: `P(a) ? V(a) : (P(b) ? V(b) : V(c))`, present when any is. Alternatives after one that is always
 * present are never read and are left out.
 */
function firstPresent(type: ValueType, alternatives: readonly Typed[]): Typed {
  const end = alternatives.findIndex((a) => !a.present);
  const used = end < 0 ? alternatives : alternatives.slice(0, end + 1);
  const last = used[used.length - 1];
  if (used.length === 1) return { ...last, type, value: widen(last, type), alternatives: undefined };
  let value = widen(last, type);
  let present = last.present;
  for (let i = used.length - 2; i >= 0; i--) {
    const a = used[i];
    value = conditional(a.present!, widen(a, type), value);
    present = present && conditional(a.present!, TRUE, present);
  }
  return { type, value, present, alternatives: used };
}

const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze(Object.create(null));

interface FunctionSpec {
  readonly args: readonly (ValueType | 'T')[];
  readonly result: ValueType | 'T';
  /** Called as x.f(...): the receiver is the first of `args`. */
  readonly method?: boolean;
  /** The value for constant arguments (receiver first), computed at compile time. */
  readonly fold?: (...args: Value[]) => Value;
  /** The CEL call, from the arguments' CEL (receiver first); conditional() is translated on its own. */
  readonly cel?: (args: Cel[]) => Cel;
}

function converter(name: ConverterName): FunctionSpec {
  const { convert, result } = CONVERTERS[name];
  return {
    args: ['STRING'],
    result,
    // A timestamp has no CEL literal: the (checked) constant text is converted at evaluation.
    fold: result === 'TIMESTAMP' ? undefined : (s) => convert(s as string)!,
    cel: ([s]) => atom(`${CEL_FUNCTIONS[name]}(${s.text})`, s),
  };
}

const FUNCTIONS: Readonly<Record<string, FunctionSpec>> = {
  match: {
    args: ['STRING', 'STRING'],
    result: 'BOOL',
    fold: (v, p) => globMatch(v as string, p as string),
    cel: ([v, p]) => atom(`${CEL_FUNCTIONS.match}(${v.text}, ${p.text})`, v, p),
  },
  ip: converter('ip'),
  timestamp: converter('timestamp'),
  email: converter('email'),
  dnsName: converter('dnsName'),
  uri: converter('uri'),
  emptyStringMap: { args: [], result: 'STRING_MAP', fold: () => EMPTY_MAP, cel: () => atom('{}') },
  conditional: { args: ['BOOL', 'T', 'T'], result: 'T' },
  toLower: {
    args: ['STRING'],
    result: 'STRING',
    fold: (s) => (s as string).toLowerCase(),
    cel: ([s]) => atom(`${CEL_FUNCTIONS.toLower}(${s.text})`, s),
  },
  startsWith: {
    args: ['STRING', 'STRING'],
    result: 'BOOL',
    method: true,
    fold: (s, p) => (s as string).startsWith(p as string),
    cel: ([s, p]) => atom(`${operand(s)}.startsWith(${p.text})`, s, p),
  },
  endsWith: {
    args: ['STRING', 'STRING'],
    result: 'BOOL',
    method: true,
    fold: (s, p) => (s as string).endsWith(p as string),
    cel: ([s, p]) => atom(`${operand(s)}.endsWith(${p.text})`, s, p),
  },
  // "svc.*".matches(destination.service): in Mixer the receiver is the pattern; in CEL it is the string.
  matches: {
    args: ['STRING', 'STRING'],
    result: 'BOOL',
    method: true,
    fold: (p, s) => new RegExp(p as string).test(s as string),
    cel: ([p, s]) => atom(`${operand(s)}.matches(${p.text})`, s, p),
  },
};

/** Why constant argument `i` of `fn` is invalid, if it is. */
function constantProblem(fn: string, i: number, v: Value): string | undefined {
  if (fn === 'matches' && i === 0) return regexProblem(v as string);
  if (Object.hasOwn(CONVERTERS, fn)) {
    const { convert, what } = CONVERTERS[fn as ConverterName];
    if (convert(v as string) === undefined) return `${fn}: ${JSON.stringify(v)} is not ${what}`;
  }
  return undefined;
}

export class Translator {
  /** Every attribute the expression reads, with its type. */
  readonly attributes = new Map<string, ValueType>();

  constructor(
    private readonly src: string,
    private readonly env: TypeEnv,
  ) {}

  private fail(pos: number, reason: string): never {
    throw new ExpressionError(this.src, pos, reason);
  }

  private constant(type: ValueType, v: Value): Typed | undefined {
    const cel = literal(type, v);
    return cel && { type, value: cel, constant: v };
  }

  translate(n: Node): Typed {
    switch (n.kind) {
      case 'string':
        return this.constant('STRING', n.value)!;
      case 'int':
        return this.constant('INT64', n.value)!;
      case 'double':
        return this.constant('DOUBLE', n.value)!;
      case 'bool':
        return this.constant('BOOL', n.value)!;
      case 'attr':
        return this.attribute(n.name, n.pos);
      case 'index':
        return this.index(n);
      case 'unary': {
        const x = this.translate(n.operand);
        if (n.op === '!') {
          if (x.type !== 'BOOL') this.fail(n.pos, `! needs a BOOL, not ${x.type}`);
          return { type: 'BOOL', value: compound(`!${operand(x.value)}`, x.value) };
        }
        if (!NUMERIC.has(x.type)) this.fail(n.pos, `unary - needs a number, not ${x.type}`);
        return { type: x.type, value: compound(`-${operand(x.value)}`, x.value) };
      }
      case 'binary':
        return this.binary(n);
      case 'call':
        return this.call(n);
    }
  }

  private typeOf(name: string, pos: number): ValueType {
    const type = this.env.typeOf(name);
    if (type === undefined) this.fail(pos, `unknown attribute ${name}`);
    this.attributes.set(name, type);
    return type;
  }

  private attribute(name: string, pos: number): Typed {
    const type = this.typeOf(name, pos);
    const field = `${ATTRIBUTES}.${fieldOf(name)}`;
    return { type, value: atom(field), present: atom(`has(${field})`) };
  }

  private index(n: Extract<Node, { kind: 'index' }>): Typed {
    const key = this.translate(n.key);
    if (!STRINGISH.has(key.type)) this.fail(n.key.pos, `a map key must be a STRING, not ${key.type}`);
    // request.headers["x"] with a constant key: only that key (not the whole map) is recorded as referenced.
    if (n.target.kind === 'attr' && key.constant !== undefined) {
      const name = n.target.name;
      const type = this.typeOf(name, n.target.pos);
      if (type !== 'STRING_MAP')
        this.fail(n.pos, `${name} is ${type}, not a STRING_MAP, and cannot be indexed`);
      const args = `${celString(name)}, ${key.value.text}`;
      return {
        type: 'STRING',
        value: atom(`${ATTRIBUTES}.mapEntry(${args})`, key.value),
        present: atom(`${ATTRIBUTES}.hasMapEntry(${args})`, key.value),
      };
    }
    const target = this.translate(n.target);
    if (target.type !== 'STRING_MAP')
      this.fail(n.pos, `${target.type} cannot be indexed; only STRING_MAP can`);
    const hasKey = compound(`${operand(key.value)} in ${operand(target.value)}`, key.value, target.value);
    return {
      type: 'STRING',
      value: atom(`${operand(target.value)}[${key.value.text}]`, target.value, key.value),
      present: target.present ? conditional(target.present, hasKey, FALSE) : hasKey,
    };
  }

  private binary(n: Extract<Node, { kind: 'binary' }>): Typed {
    const left = this.translate(n.left);
    const right = this.translate(n.right);
    const op = n.op;
    switch (op) {
      case '|': {
        if (!comparable(left.type, right.type))
          this.fail(n.pos, `both sides of | must have the same type, not ${left.type} and ${right.type}`);
        // `|` is associative: (a | b) | c and a | (b | c) both read a, then b, then c, until one is present.
        const alternatives = [...(left.alternatives ?? [left]), ...(right.alternatives ?? [right])];
        return firstPresent(joinType(left.type, right.type), alternatives);
      }
      case '&&':
      case '||': {
        if (left.type !== 'BOOL' || right.type !== 'BOOL')
          this.fail(n.pos, `${op} needs BOOL operands, not ${left.type} and ${right.type}`);
        const value =
          op === '&&'
            ? conditional(left.value, right.value, FALSE)
            : conditional(left.value, TRUE, right.value);
        return { type: 'BOOL', value };
      }
      case '==':
      case '!=': {
        if (!comparable(left.type, right.type))
          this.fail(n.pos, `cannot compare ${left.type} with ${right.type}`);
        return { type: 'BOOL', value: this.infix(left, op, right) };
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const ordered =
          (NUMERIC.has(left.type) && NUMERIC.has(right.type)) ||
          (left.type === right.type && ['STRING', 'TIMESTAMP', 'DURATION'].includes(left.type));
        if (!ordered) this.fail(n.pos, `cannot order ${left.type} and ${right.type} with ${op}`);
        return { type: 'BOOL', value: this.infix(left, op, right) };
      }
      case '+':
      case '-': {
        if (op === '+' && STRINGISH.has(left.type) && STRINGISH.has(right.type))
          return { type: 'STRING', value: this.infix(left, op, right) };
        if (!NUMERIC.has(left.type) || !NUMERIC.has(right.type))
          this.fail(
            n.pos,
            `${op} needs numbers${op === '+' ? ' or strings' : ''}, not ${left.type} and ${right.type}`,
          );
        return { type: joinType(left.type, right.type), value: this.infix(left, op, right) };
      }
    }
  }

  private infix(left: Typed, op: string, right: Typed): Cel {
    const [l, r] = [widen(left, right.type), widen(right, left.type)];
    return compound(`${operand(l)} ${op} ${operand(r)}`, l, r);
  }

  private call(n: Extract<Node, { kind: 'call' }>): Typed {
    const spec = Object.hasOwn(FUNCTIONS, n.fn) ? FUNCTIONS[n.fn] : undefined;
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
    const args = argNodes.map((a) => this.translate(a));
    let generic: ValueType | undefined;
    args.forEach((a, i) => {
      const want = spec.args[i];
      if (want === 'T') {
        if (generic === undefined) generic = a.type;
        else if (!comparable(generic, a.type))
          this.fail(
            argNodes[i].pos,
            `${n.fn}: arguments must have the same type, not ${generic} and ${a.type}`,
          );
        else generic = joinType(generic, a.type);
        return;
      }
      if (!(a.type === want || (STRINGISH.has(want) && STRINGISH.has(a.type))))
        this.fail(argNodes[i].pos, `${n.fn}: argument ${i + 1} must be ${want}, not ${a.type}`);
      const problem = a.constant !== undefined ? constantProblem(n.fn, i, a.constant) : undefined;
      if (problem) this.fail(argNodes[i].pos, problem);
    });
    const type = spec.result === 'T' ? generic! : spec.result;
    if (n.fn === 'conditional') return this.conditional(type, args);
    if (spec.fold && args.every((a) => a.constant !== undefined)) {
      const folded = this.constant(type, spec.fold(...args.map((a) => a.constant!)));
      if (folded) return folded;
    }
    return { type, value: spec.cel!(args.map((a) => a.value)) };
  }

  /** conditional(c, a, b): only the chosen branch is evaluated, and the result is absent when it is. */
  private conditional(type: ValueType, [c, a, b]: Typed[]): Typed {
    if (c.constant !== undefined && a.constant !== undefined && b.constant !== undefined) {
      const folded = this.constant(type, c.constant ? a.constant : b.constant);
      if (folded) return folded;
    }
    return {
      type,
      value: conditional(c.value, widen(a, type), widen(b, type)),
      present:
        a.present || b.present ? conditional(c.value, a.present ?? TRUE, b.present ?? TRUE) : undefined,
    };
  }
}

/** CEL that evaluates to `t`'s value, or to null when it is absent (dyn-typed: CEL has no optional int). */
export function celOrNull(t: Typed & { present: Cel }): string {
  return conditional(t.present, atom(`dyn(${t.value.text})`, t.value), atom('null')).text;
}

/**
 * How deep a translation nests, counting the conditional around it for evaluateOptional. cel-js parses
 * recursively, and runs out of stack at around 780 nested levels; Mixer chains (`a && b && c ...`) nest one level
 * per operand once translated.
 */
export function celDepth(t: Typed): number {
  return Math.max(t.value.depth, t.present?.depth ?? 0) + 2;
}

/**
 * The CEL side of Mixer expressions (@marcbachmann/cel-js): one cel-js Environment per attribute manifest, in
 * which a request's attributes are a single variable, `attributes`, of a message type with one field per
 * attribute, plus the functions Mixer has and CEL lacks.
 *
 * Field names. Mixer's attribute names are dotted (`request.headers`), and CEL would read the dots as field
 * selection, so each name is mangled into one identifier: `.` becomes `__` and `_` becomes `_u`
 * (`source.workload_name` → `source__workload_uname`); a name that would be a CEL keyword or clash with what
 * cel-js reads on an object (`constructor`) gets `_r` appended. Every `_` of a mangled name starts a two-letter
 * escape, so the mapping is reversible and two names never share a field.
 *
 * Values. At evaluation cel-js reads `attributes.x` as `view.x` on an AttributeView, an object of the class
 * registered for the message type (cel-js finds the type by the object's constructor). Its getters read the
 * request's AttributeBag lazily, record the lookup, present or absent, in the ReferenceTracker (the Check
 * response's cache key), and convert to cel-js's representation: INT64 as bigint, DURATION as cel-js's Duration.
 * An absent attribute reads as undefined, which is what `has(attributes.x)` tests and what makes a plain
 * `attributes.x` fail with "no such key". A lookup of a constant key in a string map goes through
 * `attributes.mapEntry("request.headers", "x-user")` (and `hasMapEntry`), so that only that key, and not the
 * whole map, is recorded as referenced.
 */
import { Environment } from '@marcbachmann/cel-js';
import { Duration as CelDuration } from '@marcbachmann/cel-js/evaluator';
import type { StringMap, Value, ValueType } from '@flotilla/mixer-adapter-sdk';
import { isDuration } from '@flotilla/mixer-adapter-sdk';
import type { AttributeBag, ReferenceTracker } from '../attributes/bag';
import { CONVERTERS, globMatch } from './functions';
import type { ConverterName } from './functions';

/** What an expression is evaluated against: one request's attributes, and where to record what it looked at. */
export interface EvalContext {
  readonly bag: AttributeBag;
  /** Set during Check, to record what the decision depended on. */
  readonly refs?: ReferenceTracker;
}

/**
 * Evaluation failed for this request (an absent attribute without a `|` default, a value of the wrong type).
 * It is an expected outcome, not a bug (a rule whose match reads a header the request lacks does not apply), so
 * it carries no stack trace: capturing one costs microseconds per request.
 */
export class EvalError extends Error {
  constructor(message: string) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'EvalError';
  }
}

/** The CEL variable that holds the request's attributes. */
export const ATTRIBUTES = 'attributes';

// An attribute name an expression can mention: what the parser reads as a dotted path.
const REFERABLE_NAME = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
// CEL's keywords and reserved words (cel-spec, "Syntax"), and names cel-js reads on any object.
const RESERVED = new Set(
  (
    'true false null in as break const continue else for function if import let loop package namespace return ' +
    'var void while constructor prototype'
  ).split(' '),
);

/** The CEL field for an attribute, or undefined for a name no expression can mention (`connection.mtls-x`). */
export function fieldOf(attribute: string): string | undefined {
  if (!REFERABLE_NAME.test(attribute)) return undefined;
  const field = attribute.replace(/_/g, '_u').replace(/\./g, '__');
  return RESERVED.has(field) ? `${field}_r` : field;
}

/** The attribute a CEL field stands for (the inverse of fieldOf). */
export function attributeOf(field: string): string {
  return field.replace(/_(.)/g, (_, c: string) => (c === '_' ? '.' : c === 'u' ? '_' : ''));
}

const CEL_TYPES: Readonly<Record<ValueType, string>> = {
  STRING: 'string',
  EMAIL_ADDRESS: 'string',
  URI: 'string',
  DNS_NAME: 'string',
  INT64: 'int',
  DOUBLE: 'double',
  BOOL: 'bool',
  TIMESTAMP: 'google.protobuf.Timestamp',
  DURATION: 'google.protobuf.Duration',
  STRING_MAP: 'map<string, string>',
  IP_ADDRESS: 'bytes',
};

export function celTypeOf(t: ValueType): string {
  return CEL_TYPES[t];
}

function isStringMap(v: Value): v is StringMap {
  return typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array);
}

/** An attribute value as cel-js represents its type, or undefined when the value is not of that type. */
function toCel(v: Value, t: ValueType): unknown {
  switch (t) {
    case 'STRING':
    case 'EMAIL_ADDRESS':
    case 'URI':
    case 'DNS_NAME':
      return typeof v === 'string' ? v : undefined;
    case 'INT64':
      return Number.isInteger(v) ? BigInt(v as number) : undefined;
    case 'DOUBLE':
      return typeof v === 'number' ? v : undefined;
    case 'BOOL':
      return typeof v === 'boolean' ? v : undefined;
    case 'TIMESTAMP':
      return v instanceof Date ? v : undefined;
    case 'IP_ADDRESS':
      return v instanceof Uint8Array ? v : undefined;
    case 'DURATION':
      return isDuration(v) && Number.isInteger(v.seconds) ? new CelDuration(v.seconds, v.nanos) : undefined;
    case 'STRING_MAP':
      return isStringMap(v) ? v : undefined;
  }
}

/** A CEL result of type `t` as the adapter SDK's Value. */
export function fromCel(v: unknown, t: ValueType): Value {
  switch (t) {
    case 'INT64':
      return Number(v as bigint);
    case 'DURATION': {
      const d = v as CelDuration;
      return { seconds: Number(d.seconds), nanos: d.nanos };
    }
    default:
      return v as Value;
  }
}

const CONTEXT = Symbol('context');
const ACTIVATION = Symbol('activation');
const VIEW = Symbol('attribute view');

/**
 * One request's attributes as the CEL `attributes` message. Its members are symbol-keyed, so no field getter
 * (string-keyed, one per attribute, defined per manifest on a subclass) can shadow them.
 */
class AttributeView {
  readonly [CONTEXT]: EvalContext;
  /** The variables cel-js evaluates against. */
  readonly [ACTIVATION]: { readonly [ATTRIBUTES]: AttributeView };

  constructor(ctx: EvalContext) {
    this[CONTEXT] = ctx;
    this[ACTIVATION] = { [ATTRIBUTES]: this };
  }
}

/** The getter behind `attributes.<field>`: reads, records and converts one attribute. */
function fieldGetter(name: string, type: ValueType): (this: AttributeView) => unknown {
  return function (this: AttributeView) {
    const { bag, refs } = this[CONTEXT];
    const v = bag.get(name);
    refs?.attribute(name, v !== undefined);
    if (v === undefined) return undefined;
    const converted = toCel(v, type);
    if (converted === undefined) throw new EvalError(`attribute ${name} does not hold a ${type}`);
    return converted;
  };
}

/** `attributes.hasMapEntry(name, key)` / `attributes.mapEntry(name, key)`: one key of a STRING_MAP attribute. */
function lookUpEntry(view: AttributeView, name: string, key: string): string | undefined {
  const { bag, refs } = view[CONTEXT];
  const map = bag.get(name);
  if (map === undefined) {
    refs?.mapAbsent(name);
    return undefined;
  }
  if (!isStringMap(map)) throw new EvalError(`attribute ${name} does not hold a STRING_MAP`);
  const v = (map as Record<string, unknown>)[key];
  const present = typeof v === 'string';
  refs?.mapKey(name, key, present);
  return present ? (v as string) : undefined;
}

function converterFunction(name: ConverterName): (text: string) => unknown {
  const { convert, what } = CONVERTERS[name];
  return (text) => {
    const v = convert(text);
    if (v === undefined) throw new EvalError(`${name}(${JSON.stringify(text)}): not ${what}`);
    return v;
  };
}

/**
 * The names under which Mixer's functions without a CEL equivalent are registered. CEL's own timestamp() takes
 * other strings than Mixer's (any Date.parse-able text of 20 to 30 characters), so Mixer's has its own name.
 */
export const CEL_FUNCTIONS = {
  match: 'match',
  ip: 'ip',
  timestamp: 'rfc3339Timestamp',
  email: 'email',
  dnsName: 'dnsName',
  uri: 'uri',
  toLower: 'toLower',
} as const;

const SYNC = { async: false };

// Expressions are nested deeper in CEL than in Mixer's syntax (every `|` becomes a conditional), and the parser
// already refuses Mixer expressions nested more than 200 deep.
const LIMITS = { maxDepth: 2000, maxAstNodes: 200_000 };

/** The functions every manifest's environment shares; cloned (cheaply) per manifest. */
const BASE = new Environment({ limits: LIMITS })
  .registerFunction(`${CEL_FUNCTIONS.match}(string, string): bool`, globMatch, SYNC)
  .registerFunction(`${CEL_FUNCTIONS.ip}(string): bytes`, converterFunction('ip'), SYNC)
  .registerFunction(
    `${CEL_FUNCTIONS.timestamp}(string): google.protobuf.Timestamp`,
    converterFunction('timestamp'),
    SYNC,
  )
  .registerFunction(`${CEL_FUNCTIONS.email}(string): string`, converterFunction('email'), SYNC)
  .registerFunction(`${CEL_FUNCTIONS.dnsName}(string): string`, converterFunction('dnsName'), SYNC)
  .registerFunction(`${CEL_FUNCTIONS.uri}(string): string`, converterFunction('uri'), SYNC)
  .registerFunction(`${CEL_FUNCTIONS.toLower}(string): string`, (s: string) => s.toLowerCase(), SYNC);

/** The attributes' message type, as CEL expressions and error messages name it. */
const MESSAGE_TYPE = 'mixer.Attributes';

/** A cel-js Environment for one manifest, and the view class its `attributes` variable is read through. */
export class AttributeEnvironment {
  readonly cel: Environment;
  /** attribute → its type, for the attributes that have a field. */
  readonly types: ReadonlyMap<string, ValueType>;
  private readonly View: new (ctx: EvalContext) => AttributeView;

  constructor(attributes: Iterable<readonly [string, ValueType]>) {
    class View extends AttributeView {}
    const fields: Record<string, string> = Object.create(null);
    const types = new Map<string, ValueType>();
    for (const [name, type] of attributes) {
      const field = fieldOf(name);
      if (field === undefined) continue;
      fields[field] = celTypeOf(type);
      types.set(name, type);
      Object.defineProperty(View.prototype, field, { get: fieldGetter(name, type) });
    }
    this.View = View;
    this.types = types;
    this.cel = BASE.clone()
      .registerType(MESSAGE_TYPE, { ctor: View, fields })
      .registerVariable(ATTRIBUTES, MESSAGE_TYPE)
      .registerFunction(
        `${MESSAGE_TYPE}.hasMapEntry(string, string): bool`,
        (view: AttributeView, name: string, key: string) => lookUpEntry(view, name, key) !== undefined,
        SYNC,
      )
      .registerFunction(
        `${MESSAGE_TYPE}.mapEntry(string, string): string`,
        (view: AttributeView, name: string, key: string) => {
          const v = lookUpEntry(view, name, key);
          if (v === undefined) throw new EvalError(`${name}[${JSON.stringify(key)}] is absent`);
          return v;
        },
        SYNC,
      );
  }

  /**
   * The variables to evaluate a program of this environment with, for this request. The view is kept on the
   * context (under a private symbol), so that all the expressions evaluated with one context share one view.
   */
  activation(ctx: EvalContext): object {
    const slot = ctx as EvalContext & { [VIEW]?: AttributeView };
    let view = slot[VIEW];
    // (A context copied with its symbol properties, or used with another manifest, gets a view of its own.)
    if (view === undefined || view[CONTEXT] !== ctx || view.constructor !== this.View) {
      view = new this.View(ctx);
      if (Object.isExtensible(ctx)) slot[VIEW] = view;
    }
    return view[ACTIVATION];
  }
}

/**
 * Compiles Mixer's expression language (CEXL) to CEL, once per config, and evaluates it with
 * @marcbachmann/cel-js.
 *
 * At config time an expression is parsed by our own parser (parser.ts: Mixer's Go-like syntax, with the offset of
 * every token), type-checked against the attribute manifest and translated to CEL text (translate.ts; a bad
 * expression is rejected there with its position), then parsed and type-checked by cel-js in an Environment
 * built for the manifest (cel-env.ts). A CEL failure at that stage is a bug in the translation; it is reported
 * as a config error naming the expression, not thrown at requests.
 *
 * What CEL does not do the way Mixer does, and how the translation handles it:
 *  - `a | b` falls back when `a` is absent: `a` is read only under its presence test, `has(attributes.x)` for an
 *    attribute and `attributes.hasMapEntry(map, key)` for a map key, so the default applies exactly then.
 *  - Attribute names are dotted (`request.headers`): they are the fields of one message-typed variable,
 *    `attributes`, each mangled into a single identifier (`attributes.request__headers`), reversibly.
 *  - The Check response names every attribute and map key a decision read, present or absent (the client's
 *    cache key): the fields' getters and the map-entry functions record each lookup as cel-js makes it.
 *  - `&&` and `||` are strict and left to right in Mixer; they are translated to conditionals.
 * At evaluation an expression costs one cel-js call on the request's attribute view, which every expression
 * evaluated with the same EvalContext shares; nothing is parsed or checked per request.
 */
import { EvaluationError } from '@marcbachmann/cel-js';
import type { ParseResult } from '@marcbachmann/cel-js';
import type { Value, ValueType } from '@flotilla/mixer-adapter-sdk';
import { AttributeEnvironment, EvalError, attributeOf, celTypeOf, fromCel } from './cel-env';
import type { EvalContext } from './cel-env';
import { ExpressionError, parseExpression } from './parser';
import { Translator, celDepth, celOrNull, comparable } from './translate';
import type { TypeEnv } from './translate';

export { EvalError } from './cel-env';
export type { EvalContext } from './cel-env';
export { globMatch } from './functions';
export type { TypeEnv } from './translate';

export interface CompiledExpression {
  readonly source: string;
  readonly type: ValueType;
  /** The CEL the expression was translated to. */
  readonly cel: string;
  /** The value, or throws EvalError (including when the result is absent). */
  evaluate(ctx: EvalContext): Value;
  /** The value, or undefined when it is absent; throws EvalError on other failures. */
  evaluateOptional(ctx: EvalContext): Value | undefined;
  /**
   * Whether the value is `true`; false when it is anything else or cannot be evaluated (what a rule's match
   * needs). The same as evaluate() with EvalError caught, without the cost of throwing the error once more.
   */
  isTrue(ctx: EvalContext): boolean;
}

/** Well below what cel-js's recursive parser can take (see celDepth). */
const MAX_CEL_DEPTH = 500;

/**
 * The CEL environment of each manifest. A manifest only grows (an attribute cannot change type), so a cached
 * environment is rebuilt only when the manifest has gained an attribute that the expression being compiled reads.
 */
const ENVIRONMENTS = new WeakMap<TypeEnv, AttributeEnvironment>();

function environmentFor(env: TypeEnv, reads: ReadonlyMap<string, ValueType>): AttributeEnvironment {
  let cached = ENVIRONMENTS.get(env);
  if (!cached || [...reads].some(([name, type]) => cached!.types.get(name) !== type)) {
    cached = new AttributeEnvironment(
      Array.from(env.entries(), ([name, info]) => [name, info.valueType] as const),
    );
    ENVIRONMENTS.set(env, cached);
  }
  return cached;
}

/** The cel-js program for the translation, checked; a failure here is a bug in translate.ts. */
function celProgram(
  source: string,
  cel: string,
  env: AttributeEnvironment,
  expectedType: string,
): ParseResult {
  const excerpt = cel.length > 200 ? `${cel.slice(0, 200)}…` : cel;
  const bug = (problem: string) =>
    new ExpressionError(source, 0, `internal error: the expression's CEL translation ${excerpt} ${problem}`);
  let program: ParseResult;
  try {
    program = env.cel.parse(cel);
  } catch (err) {
    throw bug(`does not parse: ${(err as { summary?: string }).summary ?? String(err)}`);
  }
  const checked = program.check();
  if (!checked.valid) throw bug(`does not type-check: ${checked.error?.summary ?? checked.error?.message}`);
  // cel-js types an empty map literal as map<K, V>.
  const type = checked.type === 'map<K, V>' ? 'map<string, string>' : checked.type;
  if (type !== expectedType) throw bug(`has type ${checked.type}, not ${expectedType}`);
  return program;
}

/** A failure of cel-js at evaluation as an EvalError; anything else is a bug and is rethrown as it is. */
function evalErrorOf(err: unknown, source: string): unknown {
  if (!(err instanceof EvaluationError)) return err;
  const node = err.node;
  if (err.code === 'no_such_key' && node?.op === '.')
    return new EvalError(`attribute ${attributeOf(node.args[1])} is absent`);
  return new EvalError(`${source}: ${err.summary}`);
}

/**
 * Parses, type-checks and compiles `source`. With `expected`, the result must have that type (string-like types
 * are interchangeable). Throws ExpressionError with the offending position.
 */
export function compileExpression(source: string, env: TypeEnv, expected?: ValueType): CompiledExpression {
  const translator = new Translator(source, env);
  const typed = translator.translate(parseExpression(source));
  if (expected && !comparable(expected, typed.type)) {
    throw new ExpressionError(source, 0, `expression has type ${typed.type} but ${expected} is required`);
  }
  const depth = celDepth(typed);
  if (depth > MAX_CEL_DEPTH) {
    throw new ExpressionError(
      source,
      0,
      `expression is too long: it nests ${depth} levels deep in CEL, and at most ${MAX_CEL_DEPTH} are supported`,
    );
  }
  const attributes = environmentFor(env, translator.attributes);
  const type = typed.type;
  const cel = typed.value.text;
  const program = celProgram(source, cel, attributes, celTypeOf(type));
  // An absent value fails evaluate() like any other absent read; evaluateOptional() tests for it first.
  const orNull = typed.present
    ? celProgram(source, celOrNull({ ...typed, present: typed.present }), attributes, 'dyn')
    : program;
  const run = (p: ParseResult, ctx: EvalContext): Value | undefined => {
    let result: unknown;
    try {
      result = p(attributes.activation(ctx));
    } catch (err) {
      throw evalErrorOf(err, source);
    }
    return result === null ? undefined : fromCel(result, type);
  };
  const constant = typed.constant;
  if (constant !== undefined)
    return {
      source,
      type,
      cel,
      evaluate: () => constant,
      evaluateOptional: () => constant,
      isTrue: () => constant === true,
    };
  return {
    source,
    type,
    cel,
    evaluate: (ctx) => run(program, ctx)!,
    evaluateOptional: (ctx) => run(orNull, ctx),
    isTrue: (ctx) => {
      try {
        return program(attributes.activation(ctx)) === true;
      } catch (err) {
        if (err instanceof EvalError || err instanceof EvaluationError) return false;
        throw err;
      }
    },
  };
}

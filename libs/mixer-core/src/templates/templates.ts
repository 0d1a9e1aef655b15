/**
 * Istio 1.4's templates (mixer/template/{checknothing,listentry,authorization,quota,metric,logentry,reportnothing}):
 * for each, the fields an instance config's params may set, their types, and how an instance is built from a
 * request's attributes. Instance params are compiled once per config; building an instance runs the compiled
 * expressions against the request's attributes.
 */
import type { TemplateName, Value, ValueType } from '@flotilla/mixer-adapter-sdk';
import { compileExpression } from '../expr/compile';
import type { CompiledExpression, EvalContext, TypeEnv } from '../expr/compile';
import { ExpressionError } from '../expr/parser';

/** A field: an expression of a type ('ANY' for value fields), or a map of expressions, or a nested message. */
type FieldSpec =
  | { kind: 'expr'; type: ValueType | 'ANY'; required?: boolean; default?: string }
  | { kind: 'map' }
  | { kind: 'message'; fields: Record<string, FieldSpec> };

const str = (required = false): FieldSpec => ({ kind: 'expr', type: 'STRING', required });
const map: FieldSpec = { kind: 'map' };

export const TEMPLATE_FIELDS: Readonly<Record<TemplateName, Record<string, FieldSpec>>> = {
  checknothing: {},
  reportnothing: {},
  listentry: { value: str(true) },
  authorization: {
    subject: { kind: 'message', fields: { user: str(), groups: str(), properties: map } },
    action: {
      kind: 'message',
      fields: { namespace: str(), service: str(), method: str(), path: str(), properties: map },
    },
  },
  quota: { dimensions: map },
  metric: {
    value: { kind: 'expr', type: 'ANY', required: true },
    dimensions: map,
    monitoredResourceType: str(),
    monitoredResourceDimensions: map,
  },
  logentry: {
    variables: map,
    timestamp: { kind: 'expr', type: 'TIMESTAMP', default: 'context.time' },
    severity: str(),
    monitoredResourceType: str(),
    monitoredResourceDimensions: map,
  },
};

/** Builds one instance per call from a request's attributes; throws EvalError when a field cannot be evaluated. */
export type InstanceBuilder = (ctx: EvalContext) => Record<string, unknown> & { name: string };

type Builder = (ctx: EvalContext) => unknown;

function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function exprText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  return undefined;
}

class ParamsCompiler {
  readonly problems: string[] = [];

  constructor(private readonly env: TypeEnv) {}

  private expr(path: string, raw: unknown, type: ValueType | 'ANY'): CompiledExpression | undefined {
    const text = exprText(raw);
    if (text === undefined) {
      this.problems.push(`${path}: expected an expression (a string), got ${JSON.stringify(raw)}`);
      return undefined;
    }
    try {
      return compileExpression(text, this.env, type === 'ANY' ? undefined : type);
    } catch (err) {
      if (err instanceof ExpressionError) {
        this.problems.push(`${path}: ${err.reason} at position ${err.position} of ${JSON.stringify(text)}`);
        return undefined;
      }
      throw err;
    }
  }

  fields(path: string, raw: unknown, specs: Record<string, FieldSpec>): Builder {
    const obj =
      typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
    if (raw !== undefined && raw !== null && obj !== raw) this.problems.push(`${path}: expected a map`);
    const given = new Map(Object.entries(obj).map(([k, v]) => [camel(k), v]));
    for (const k of given.keys())
      if (!(k in specs))
        this.problems.push(
          `${path ? path + '.' : ''}${k}: unknown field (known: ${Object.keys(specs).join(', ') || 'none'})`,
        );
    const parts: [string, Builder][] = [];
    for (const [name, spec] of Object.entries(specs)) {
      const fieldPath = path ? `${path}.${name}` : name;
      const value = given.get(name);
      if (spec.kind === 'expr') {
        const text = value ?? spec.default;
        if (text === undefined) {
          if (spec.required) this.problems.push(`${fieldPath}: required`);
          const empty = spec.type === 'STRING' ? '' : undefined;
          parts.push([name, () => empty]);
          continue;
        }
        const compiled = this.expr(fieldPath, text, spec.type);
        if (compiled) parts.push([name, (ctx) => compiled.evaluate(ctx)]);
      } else if (spec.kind === 'map') {
        parts.push([name, this.map(fieldPath, value)]);
      } else {
        parts.push([name, this.fields(fieldPath, value, spec.fields)]);
      }
    }
    return (ctx) => {
      const out: Record<string, unknown> = {};
      for (const [name, build] of parts) out[name] = build(ctx);
      return out;
    };
  }

  private map(path: string, raw: unknown): Builder {
    if (raw === undefined || raw === null) return () => ({});
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      this.problems.push(`${path}: expected a map of name to expression`);
      return () => ({});
    }
    const entries: [string, CompiledExpression][] = [];
    for (const [k, v] of Object.entries(raw)) {
      const compiled = this.expr(`${path}.${k}`, v, 'ANY');
      if (compiled) entries.push([k, compiled]);
    }
    return (ctx) => {
      const out: Record<string, Value> = {};
      for (const [k, e] of entries) out[k] = e.evaluate(ctx);
      return out;
    };
  }
}

export interface CompiledInstance {
  readonly fqn: string;
  readonly template: TemplateName;
  readonly build: InstanceBuilder;
  /** The value expression's type, for metric instances (adapters that care, such as prometheus, check it). */
  readonly valueType?: ValueType;
}

/** Compiles an instance config's params; throws with every problem (field path, reason, position). */
export function compileInstance(
  fqn: string,
  template: TemplateName,
  params: Readonly<Record<string, unknown>>,
  env: TypeEnv,
): CompiledInstance {
  const compiler = new ParamsCompiler(env);
  const build = compiler.fields('', params, TEMPLATE_FIELDS[template]);
  if (compiler.problems.length) throw new InstanceConfigError(fqn, compiler.problems);
  let valueType: ValueType | undefined;
  if (template === 'metric') {
    const text = exprText(params.value);
    if (text !== undefined) valueType = compileExpression(text, env).type;
  }
  return {
    fqn,
    template,
    valueType,
    build: (ctx) => {
      const fields = build(ctx) as Record<string, unknown>;
      return { ...fields, name: fqn };
    },
  };
}

export class InstanceConfigError extends Error {
  constructor(
    readonly instance: string,
    readonly problems: readonly string[],
  ) {
    super(problems.join('; '));
    this.name = 'InstanceConfigError';
  }
}

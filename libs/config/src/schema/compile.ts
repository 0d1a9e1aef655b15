// Compiles a Schema once into a tree of checking functions. Messages follow the wording the Kubernetes API server
// uses for CRD structural validation, so that a user sees what `kubectl apply` would have told them.
import type { Issues } from '../issues';
import type {
  ArraySchema,
  IntegerSchema,
  MapSchema,
  NumberSchema,
  Obj,
  ObjectSchema,
  Rule,
  Schema,
  StringSchema,
} from './types';

export type Check = (value: unknown, issues: Issues) => void;

export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeError(issues: Issues, want: string, value: unknown): void {
  const got = jsonType(value);
  const p = issues.path();
  issues.error(`${p}: Invalid value: "${got}": ${p} in body must be of type ${want}: "${got}"`);
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function ruleFailed(issues: Issues, type: string, message: string): void {
  issues.error(`${issues.path()}: Invalid value: "${type}": ${message}`);
}

function compileString(s: StringSchema): Check {
  const enumSet = s.enum ? new Set(s.enum) : undefined;
  const enumText = s.enum ? s.enum.map((e) => JSON.stringify(e)).join(', ') : '';
  const pattern = s.pattern !== undefined ? new RegExp(s.pattern) : undefined;
  const rules = s.rules ?? [];
  const { minLength, maxLength, nullable } = s;
  return (value, issues) => {
    if (typeof value !== 'string') {
      if (value === null && nullable) return;
      typeError(issues, 'string', value);
      return;
    }
    if (enumSet && !enumSet.has(value)) {
      const p = issues.path();
      issues.error(`${p}: Unsupported value: ${JSON.stringify(value)}: supported values: ${enumText}`);
      return;
    }
    if (minLength !== undefined && value.length < minLength) {
      const p = issues.path();
      issues.error(
        `${p}: Invalid value: ${JSON.stringify(value)}: ${p} in body should be at least ${minLength} chars long`,
      );
    }
    if (maxLength !== undefined && value.length > maxLength) {
      issues.error(`${issues.path()}: Too long: may not be longer than ${maxLength}`);
    }
    if (pattern && !pattern.test(value)) {
      const p = issues.path();
      issues.error(`${p}: Invalid value: ${JSON.stringify(value)}: ${p} in body should match '${s.pattern}'`);
    }
    for (let i = 0; i < rules.length; i++)
      if (!rules[i].test(value)) ruleFailed(issues, 'string', rules[i].message);
  };
}

function compileInteger(s: IntegerSchema): Check {
  const rules = s.rules ?? [];
  const { minimum, maximum, nullable } = s;
  const lo = s.format === 'int32' ? -2147483648 : Number.MIN_SAFE_INTEGER;
  const hi = s.format === 'int32' ? 2147483647 : Number.MAX_SAFE_INTEGER;
  return (value, issues) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      if (value === null && nullable) return;
      typeError(issues, 'integer', value);
      return;
    }
    // The path is rendered only when a problem is recorded: valid input allocates nothing.
    if (minimum !== undefined && value < minimum) {
      issues.error(
        `${issues.path()}: Invalid value: ${value}: ${issues.path()} in body should be greater than or equal to ${minimum}`,
      );
    } else if (value < lo) {
      issues.error(
        `${issues.path()}: Invalid value: ${value}: ${issues.path()} in body should be greater than or equal to ${lo}`,
      );
    }
    if (maximum !== undefined && value > maximum) {
      issues.error(
        `${issues.path()}: Invalid value: ${value}: ${issues.path()} in body should be less than or equal to ${maximum}`,
      );
    } else if (value > hi) {
      issues.error(
        `${issues.path()}: Invalid value: ${value}: ${issues.path()} in body should be less than or equal to ${hi}`,
      );
    }
    for (let i = 0; i < rules.length; i++)
      if (!rules[i].test(value)) ruleFailed(issues, 'integer', rules[i].message);
  };
}

function compileNumber(s: NumberSchema): Check {
  const { minimum, maximum, nullable } = s;
  return (value, issues) => {
    if (typeof value !== 'number') {
      if (value === null && nullable) return;
      typeError(issues, 'number', value);
      return;
    }
    // The path is rendered only when a problem is recorded: valid input allocates nothing.
    if (minimum !== undefined && value < minimum) {
      issues.error(
        `${issues.path()}: Invalid value: ${value}: ${issues.path()} in body should be greater than or equal to ${minimum}`,
      );
    }
    if (maximum !== undefined && value > maximum) {
      issues.error(
        `${issues.path()}: Invalid value: ${value}: ${issues.path()} in body should be less than or equal to ${maximum}`,
      );
    }
  };
}

function runObjRules(rules: readonly Rule<Obj>[], value: Obj, issues: Issues): void {
  for (let i = 0; i < rules.length; i++)
    if (!rules[i].test(value)) ruleFailed(issues, 'object', rules[i].message);
}

/*
 * Composite checks (object, map, array) are instantiated from source with `new Function`, one function per schema
 * node, instead of being closures made by one factory. Closures from one factory share their code, and with it
 * V8's call-site feedback: the call to a child check would see every child of every schema and go megamorphic
 * (no inlining). A function of its own per node keeps each call site monomorphic. An object's known properties
 * become a `switch` over string literals, cheaper than a lookup per key. The source is built only from property
 * names (as JSON string literals) and fixed text; everything else is passed in as bound values.
 */
function instantiate(source: string, bindings: Record<string, unknown>): Check {
  const names = Object.keys(bindings);
  const factory = new Function(...names, `'use strict';\n${source}`) as (...args: unknown[]) => Check;
  return factory(...names.map((n) => bindings[n]));
}

function compileObject(s: ObjectSchema): Check {
  const names = Object.keys(s.properties);
  const checks = names.map((n) => compile(s.properties[n]));
  const required = s.required ?? [];
  const oneOf = s.oneOf ?? [];
  const rules = s.rules ?? [];
  const quick = names.map((n) => quickValid(s.properties[n]));
  const cases = names
    .map((n, i) =>
      quick[i]
        ? `      case ${JSON.stringify(n)}: if (!q${i}(value[key])) { issues.push(key); c${i}(value[key], issues); issues.pop(); } break;`
        : `      case ${JSON.stringify(n)}: issues.push(key); c${i}(value[key], issues); issues.pop(); break;`,
    )
    .join('\n');
  const source = `
return function checkObject(value, issues) {
  if (!isObj(value)) {
    if (!(value === null && nullable)) typeError(issues, 'object', value);
    return;
  }
  for (const key in value) {
    switch (key) {
${cases}
      default: unknownField(key, issues);
    }
  }
  if (hasTail) objectTail(value, issues);
};`;
  const bindings: Record<string, unknown> = {
    isObj,
    typeError,
    unknownField,
    nullable: s.nullable === true,
    hasTail: required.length > 0 || oneOf.length > 0 || rules.length > 0,
    objectTail: (value: Obj, issues: Issues) => objectTail(value, issues, required, oneOf, rules),
  };
  checks.forEach((c, i) => (bindings[`c${i}`] = c));
  quick.forEach((q, i) => (bindings[`q${i}`] = q));
  return instantiate(source, bindings);
}

function unknownField(key: string, issues: Issues): void {
  issues.push(key);
  issues.error(`unknown field "${issues.path()}"`);
  issues.pop();
}

/** Required fields, oneOf groups and rules: checked after the properties. */
function objectTail(
  value: Obj,
  issues: Issues,
  required: readonly string[],
  oneOf: readonly (readonly string[])[],
  rules: readonly Rule<Obj>[],
): void {
  for (let i = 0; i < required.length; i++) {
    if (value[required[i]] === undefined)
      issues.error(`${issues.path(required[i])}: Required value`, required[i]);
  }
  for (let i = 0; i < oneOf.length; i++) {
    const group = oneOf[i];
    let set = 0;
    for (let j = 0; j < group.length; j++) if (value[group[j]] !== undefined) set++;
    if (set > 1) {
      const p = issues.path();
      issues.error(
        `${p}: Invalid value: "object": ${p} in body should match exactly one schema in oneOf: only one of ${group.join(', ')} may be set`,
      );
    }
  }
  if (rules.length > 0) runObjRules(rules, value, issues);
}

/** For composite items: always run the full check. */
const NEVER_QUICK = (): boolean => false;

const MAP_SOURCE = `
return function checkMap(value, issues) {
  if (!isObj(value)) {
    if (!(value === null && nullable)) typeError(issues, 'object', value);
    return;
  }
  let n = 0;
  for (const key in value) {
    n++;
    if (quick(value[key])) continue;
    issues.pushMapKey(key);
    inner(value[key], issues);
    issues.pop();
  }
  tail(value, n, issues);
};`;

function compileMap(s: MapSchema): Check {
  const { minProperties, maxProperties } = s;
  const rules = s.rules ?? [];
  // The path is rendered only when a problem is recorded: valid input allocates nothing.
  const tail = (value: Obj, n: number, issues: Issues) => {
    if (minProperties !== undefined && n < minProperties) {
      issues.error(
        `${issues.path()}: Invalid value: ${n}: ${issues.path()} in body should have at least ${minProperties} properties`,
      );
    }
    if (maxProperties !== undefined && n > maxProperties) {
      issues.error(`${issues.path()}: Too many: ${n}: must have at most ${maxProperties} items`);
    }
    if (rules.length > 0) runObjRules(rules, value, issues);
  };
  return instantiate(MAP_SOURCE, {
    isObj,
    typeError,
    nullable: s.nullable === true,
    inner: compile(s.values),
    quick: quickValid(s.values) ?? NEVER_QUICK,
    tail,
  });
}

const ARRAY_SOURCE = `
return function checkArray(value, issues) {
  if (!Array.isArray(value)) {
    if (!(value === null && nullable)) typeError(issues, 'array', value);
    return;
  }
  for (let i = 0; i < value.length; i++) {
    if (quick(value[i])) continue;
    issues.push(i);
    inner(value[i], issues);
    issues.pop();
  }
  if (hasTail) tail(value, issues);
};`;

function compileArray(s: ArraySchema): Check {
  const { minItems, maxItems, listMapKeys } = s;
  const rules = s.rules ?? [];
  // The path is rendered only when a problem is recorded: valid input allocates nothing.
  const tail = (value: unknown[], issues: Issues) => {
    if (minItems !== undefined && value.length < minItems) {
      issues.error(
        `${issues.path()}: Invalid value: ${value.length}: ${issues.path()} in body should have at least ${minItems} items`,
      );
    }
    if (maxItems !== undefined && value.length > maxItems) {
      issues.error(`${issues.path()}: Too many: ${value.length}: must have at most ${maxItems} items`);
    }
    if (listMapKeys && value.length > 1) {
      const seen = new Set<string>();
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (!isObj(item)) continue;
        const key: Obj = {};
        for (const k of listMapKeys) key[k] = item[k];
        const text = JSON.stringify(key);
        if (seen.has(text)) issues.error(`${issues.path(i)}: Duplicate value: ${text}`, i);
        seen.add(text);
      }
    }
    for (let i = 0; i < rules.length; i++)
      if (!rules[i].test(value)) ruleFailed(issues, 'array', rules[i].message);
  };
  return instantiate(ARRAY_SOURCE, {
    typeError,
    nullable: s.nullable === true,
    inner: compile(s.items),
    quick: quickValid(s.items) ?? NEVER_QUICK,
    hasTail:
      minItems !== undefined || maxItems !== undefined || listMapKeys !== undefined || rules.length > 0,
    tail,
  });
}

const checkBoolean =
  (nullable: boolean | undefined): Check =>
  (value, issues) => {
    if (typeof value === 'boolean' || (value === null && nullable)) return;
    typeError(issues, 'boolean', value);
  };

const checkIntOrString: Check = (value, issues) => {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))) return;
  typeError(issues, 'integer or string', value);
};

/**
 * For a leaf schema, a predicate that is true only for values its check accepts without a word: composite checks
 * call it first and push the field's path segment and run the full check only when it fails, so valid leaves cost
 * one call and no path bookkeeping. Undefined for objects, maps and arrays.
 */
export function quickValid(schema: Schema): ((value: unknown) => boolean) | undefined {
  const nullable = schema.nullable === true;
  switch (schema.type) {
    case 'string': {
      const enumSet = schema.enum ? new Set(schema.enum) : undefined;
      const pattern = schema.pattern !== undefined ? new RegExp(schema.pattern) : undefined;
      const rules = schema.rules ?? [];
      const min = schema.minLength ?? 0;
      const max = schema.maxLength ?? Number.POSITIVE_INFINITY;
      return (v) => {
        if (typeof v !== 'string') return v === null && nullable;
        if (v.length < min || v.length > max) return false;
        if (enumSet !== undefined && !enumSet.has(v)) return false;
        if (pattern !== undefined && !pattern.test(v)) return false;
        for (let i = 0; i < rules.length; i++) if (!rules[i].test(v)) return false;
        return true;
      };
    }
    case 'integer': {
      const rules = schema.rules ?? [];
      const lo = Math.max(
        schema.minimum ?? -Infinity,
        schema.format === 'int32' ? -2147483648 : Number.MIN_SAFE_INTEGER,
      );
      const hi = Math.min(
        schema.maximum ?? Infinity,
        schema.format === 'int32' ? 2147483647 : Number.MAX_SAFE_INTEGER,
      );
      return (v) => {
        if (typeof v !== 'number' || !Number.isInteger(v)) return v === null && nullable;
        if (v < lo || v > hi) return false;
        for (let i = 0; i < rules.length; i++) if (!rules[i].test(v)) return false;
        return true;
      };
    }
    case 'number': {
      const lo = schema.minimum ?? -Infinity;
      const hi = schema.maximum ?? Infinity;
      return (v) => (typeof v === 'number' ? v >= lo && v <= hi : v === null && nullable);
    }
    case 'boolean':
      return (v) => typeof v === 'boolean' || (v === null && nullable);
    case 'int-or-string':
      return (v) => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
    case 'any':
      return schema.objectOnly ? (v) => isObj(v) || (v === null && nullable) : () => true;
    default:
      return undefined;
  }
}

/** Compiles a schema into a checking function. Call once per schema and keep the result. */
export function compile(schema: Schema): Check {
  switch (schema.type) {
    case 'string':
      return compileString(schema);
    case 'integer':
      return compileInteger(schema);
    case 'number':
      return compileNumber(schema);
    case 'boolean':
      return checkBoolean(schema.nullable);
    case 'object':
      return compileObject(schema);
    case 'map':
      return compileMap(schema);
    case 'array':
      return compileArray(schema);
    case 'int-or-string':
      return checkIntOrString;
    case 'any': {
      const objectOnly = schema.objectOnly;
      return (value, issues) => {
        if (objectOnly && !isObj(value) && !(value === null && schema.nullable))
          typeError(issues, 'object', value);
      };
    }
  }
}

export { shown };

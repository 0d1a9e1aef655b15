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

function compileObject(s: ObjectSchema): Check {
  const names = Object.keys(s.properties);
  // A prototype-less record rather than a Map: YAML keys are internalized strings, and V8 looks them up in a
  // dictionary object faster than it hashes them for Map.get (measured in bench/galley).
  const checks: Record<string, Check | undefined> = Object.create(null);
  for (const n of names) checks[n] = compile(s.properties[n]);
  const required = s.required ?? [];
  const oneOf = s.oneOf ?? [];
  const rules = s.rules ?? [];
  const nullable = s.nullable;
  return (value, issues) => {
    if (!isObj(value)) {
      if (value === null && nullable) return;
      typeError(issues, 'object', value);
      return;
    }
    for (const key in value) {
      const check = checks[key];
      if (check === undefined) {
        issues.push(key);
        issues.error(`unknown field "${issues.path()}"`);
        issues.pop();
        continue;
      }
      issues.push(key);
      check(value[key], issues);
      issues.pop();
    }
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
  };
}

function compileMap(s: MapSchema): Check {
  const inner = compile(s.values);
  const { minProperties, maxProperties, nullable } = s;
  const rules = s.rules ?? [];
  return (value, issues) => {
    if (!isObj(value)) {
      if (value === null && nullable) return;
      typeError(issues, 'object', value);
      return;
    }
    let n = 0;
    for (const key in value) {
      n++;
      issues.pushMapKey(key);
      inner(value[key], issues);
      issues.pop();
    }
    // The path is rendered only when a problem is recorded: valid input allocates nothing.
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
}

function compileArray(s: ArraySchema): Check {
  const inner = compile(s.items);
  const { minItems, maxItems, listMapKeys, nullable } = s;
  const rules = s.rules ?? [];
  return (value, issues) => {
    if (!Array.isArray(value)) {
      if (value === null && nullable) return;
      typeError(issues, 'array', value);
      return;
    }
    for (let i = 0; i < value.length; i++) {
      issues.push(i);
      inner(value[i], issues);
      issues.pop();
    }
    // The path is rendered only when a problem is recorded: valid input allocates nothing.
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

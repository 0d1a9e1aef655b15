/**
 * Mixer's side of Istio 1.4's config.istio.io/v1alpha2 resources (istio.policy.v1beta1 Handler, Instance, Rule,
 * AttributeManifest): plain typed objects, parsed and validated from the resources a MixerConfigSource delivers.
 * Expressions are kept as text here; compiling them against the manifest is the runtime's job (config/compile.ts).
 */
import { isTemplateName, isValueType, parseDurationMs } from '@flotilla/mixer-adapter-sdk';
import type { TemplateName, ValueType } from '@flotilla/mixer-adapter-sdk';

export const CONFIG_API_VERSION = 'config.istio.io/v1alpha2';

/** One config resource as a source delivers it (a Kubernetes-style object: kind, metadata, spec). */
export interface ConfigResource {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly spec: unknown;
  /** Where it came from ("rules.yaml#2"), for error messages. */
  readonly origin?: string;
}

export interface HandlerConfig {
  readonly kind: 'handler';
  /** name.namespace */
  readonly fqn: string;
  readonly namespace: string;
  /** An adapter compiled into (registered with) this mixer, or an npm package name. */
  readonly adapter: string;
  readonly params: unknown;
  /** Address of an out-of-process adapter, when given (Istio 1.4's spec.connection.address). */
  readonly connection?: string;
  /** Deadline of each call to that adapter (spec.connection.timeout), when given. */
  readonly connectionTimeoutMs?: number;
}

export interface InstanceConfig {
  readonly kind: 'instance';
  readonly fqn: string;
  readonly namespace: string;
  readonly template: TemplateName;
  /** Template params: field → expression text (nested maps for map fields and subject/action). */
  readonly params: Readonly<Record<string, unknown>>;
}

export type HeaderOperationKind = 'REPLACE' | 'REMOVE' | 'APPEND';

export interface HeaderOperationConfig {
  readonly name: string;
  /** Expressions. */
  readonly values: readonly string[];
  readonly operation: HeaderOperationKind;
}

export interface ActionConfig {
  /** As written (short or fully qualified); resolved against the rule's namespace. */
  readonly handler: string;
  readonly instances: readonly string[];
  readonly name?: string;
}

export interface RuleConfig {
  readonly kind: 'rule';
  readonly fqn: string;
  readonly namespace: string;
  /** Expression; empty means "always". */
  readonly match: string;
  readonly actions: readonly ActionConfig[];
  readonly requestHeaderOperations: readonly HeaderOperationConfig[];
  readonly responseHeaderOperations: readonly HeaderOperationConfig[];
}

export interface AttributeManifestConfig {
  readonly kind: 'attributemanifest';
  readonly fqn: string;
  readonly attributes: ReadonlyMap<string, { valueType: ValueType; description?: string }>;
}

export type MixerConfig = HandlerConfig | InstanceConfig | RuleConfig | AttributeManifestConfig;

/** A resource that is not valid: which one, and every problem found in it. */
export class ConfigError extends Error {
  constructor(
    readonly resource: string,
    readonly problems: readonly string[],
  ) {
    super(`${resource}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a field by its YAML (camelCase) name or its proto (snake_case) name. */
function field(spec: Obj, camel: string): unknown {
  if (spec[camel] !== undefined) return spec[camel];
  return spec[camel.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())];
}

/** "name.namespace" for a resource. */
export function fqnOf(name: string, namespace: string): string {
  return `${name}.${namespace}`;
}

/**
 * Resolves a reference from a rule in `namespace`: "denyall" → "denyall.<namespace>"; "denyall.istio-system" and
 * Istio's older "denyall.denier.istio-system" (name.kind.namespace) → as named.
 */
export function resolveReference(ref: string, namespace: string, knownKinds: ReadonlySet<string>): string {
  const parts = ref.split('.');
  if (parts.length === 1) return fqnOf(ref, namespace);
  if (parts.length === 3 && knownKinds.has(parts[1])) return fqnOf(parts[0], parts[2]);
  return ref;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HEADER_OPS: readonly HeaderOperationKind[] = ['REPLACE', 'REMOVE', 'APPEND'];

export interface ParseOptions {
  /** Adapters this mixer can build (for Istio's legacy per-adapter kinds such as `kind: denier`). */
  readonly adapterKinds: ReadonlySet<string>;
}

/**
 * Parses one resource into mixer's model. Istio 1.4 accepts two spellings: the generic kinds (handler with
 * compiledAdapter, instance with compiledTemplate) and the older per-adapter / per-template kinds (`kind: denier`
 * with the params as spec, `kind: checknothing`). Both are read. Throws ConfigError listing every problem.
 */
export function parseResource(r: ConfigResource, options: ParseOptions): MixerConfig {
  const problems: string[] = [];
  const where = `${r.kind} ${r.namespace}/${r.name}${r.origin ? ` (${r.origin})` : ''}`;
  if (!NAME.test(r.name)) problems.push(`metadata.name ${JSON.stringify(r.name)} is not a valid name`);
  if (!NAME.test(r.namespace))
    problems.push(`metadata.namespace ${JSON.stringify(r.namespace)} is not a valid namespace`);
  const spec: Obj = isObj(r.spec) ? r.spec : {};
  if (r.spec !== undefined && r.spec !== null && !isObj(r.spec)) problems.push('spec must be a map');
  const fqn = fqnOf(r.name, r.namespace);
  const fail = (): never => {
    throw new ConfigError(where, problems);
  };
  let result: MixerConfig;

  if (r.kind === 'handler') {
    const compiled = field(spec, 'compiledAdapter');
    const named = field(spec, 'adapter');
    const adapter = compiled ?? named;
    if (typeof adapter !== 'string' || adapter === '')
      problems.push('spec.compiledAdapter (or spec.adapter) is required');
    const connection = field(spec, 'connection');
    let address: string | undefined;
    let timeoutMs: number | undefined;
    if (connection !== undefined) {
      address = isObj(connection) && typeof connection.address === 'string' ? connection.address : undefined;
      if (!address || !/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(address))
        problems.push(
          `spec.connection.address must be a host:port, got ${JSON.stringify(address ?? connection)}`,
        );
      const timeout = isObj(connection) ? connection.timeout : undefined;
      if (timeout !== undefined) {
        timeoutMs = typeof timeout === 'string' ? parseDurationMs(timeout) : undefined;
        if (timeoutMs === undefined || timeoutMs <= 0)
          problems.push(
            `spec.connection.timeout must be a duration such as "2s", got ${JSON.stringify(timeout)}`,
          );
      }
    }
    result = {
      kind: 'handler',
      fqn,
      namespace: r.namespace,
      adapter: adapter as string,
      params: spec.params ?? {},
      connection: address,
      connectionTimeoutMs: timeoutMs,
    };
  } else if (options.adapterKinds.has(r.kind)) {
    result = { kind: 'handler', fqn, namespace: r.namespace, adapter: r.kind, params: spec };
  } else if (r.kind === 'instance' || isTemplateName(r.kind)) {
    const template =
      r.kind === 'instance' ? (field(spec, 'compiledTemplate') ?? field(spec, 'template')) : r.kind;
    if (typeof template !== 'string' || !isTemplateName(template))
      problems.push(
        `spec.compiledTemplate must be one of checknothing, listentry, authorization, quota, metric, logentry, reportnothing; got ${JSON.stringify(template)}`,
      );
    const params = r.kind === 'instance' ? spec.params : spec;
    if (params !== undefined && params !== null && !isObj(params)) problems.push('spec.params must be a map');
    result = {
      kind: 'instance',
      fqn,
      namespace: r.namespace,
      template: template as TemplateName,
      params: isObj(params) ? params : {},
    };
  } else if (r.kind === 'rule') {
    const match = spec.match ?? '';
    if (typeof match !== 'string') problems.push('spec.match must be a string expression');
    const rawActions = spec.actions ?? [];
    const actions: ActionConfig[] = [];
    if (!Array.isArray(rawActions)) problems.push('spec.actions must be a list');
    else
      rawActions.forEach((a: unknown, i) => {
        if (!isObj(a)) {
          problems.push(`spec.actions[${i}] must be a map`);
          return;
        }
        const instances = a.instances ?? [];
        if (typeof a.handler !== 'string' || a.handler === '')
          problems.push(`spec.actions[${i}].handler is required`);
        if (!Array.isArray(instances) || instances.some((n) => typeof n !== 'string'))
          problems.push(`spec.actions[${i}].instances must be a list of instance names`);
        else if (instances.length === 0)
          problems.push(`spec.actions[${i}].instances must name at least one instance`);
        actions.push({
          handler: a.handler as string,
          instances: Array.isArray(instances) ? (instances as string[]) : [],
          name: typeof a.name === 'string' ? a.name : undefined,
        });
      });
    const headerOps = (key: string): HeaderOperationConfig[] => {
      const raw = field(spec, key) ?? [];
      if (!Array.isArray(raw)) {
        problems.push(`spec.${key} must be a list`);
        return [];
      }
      return raw.flatMap((op: unknown, i) => {
        if (!isObj(op) || typeof op.name !== 'string' || op.name === '') {
          problems.push(`spec.${key}[${i}].name is required`);
          return [];
        }
        const operation = (op.operation ?? 'REPLACE') as HeaderOperationKind;
        if (!HEADER_OPS.includes(operation))
          problems.push(`spec.${key}[${i}].operation must be REPLACE, REMOVE or APPEND`);
        const values = op.values ?? [];
        if (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))
          problems.push(`spec.${key}[${i}].values must be a list of expressions`);
        else if (operation !== 'REMOVE' && values.length === 0)
          problems.push(`spec.${key}[${i}].values must have at least one expression for ${operation}`);
        return [{ name: op.name, values: Array.isArray(values) ? (values as string[]) : [], operation }];
      });
    };
    result = {
      kind: 'rule',
      fqn,
      namespace: r.namespace,
      match: typeof match === 'string' ? match : '',
      actions,
      requestHeaderOperations: headerOps('requestHeaderOperations'),
      responseHeaderOperations: headerOps('responseHeaderOperations'),
    };
  } else if (r.kind === 'attributemanifest') {
    const attrs = new Map<string, { valueType: ValueType; description?: string }>();
    const raw = spec.attributes ?? {};
    if (!isObj(raw)) problems.push('spec.attributes must be a map of attribute name to {valueType}');
    else
      for (const [name, info] of Object.entries(raw)) {
        const vt = isObj(info) ? field(info, 'valueType') : undefined;
        if (!/^[a-z][a-zA-Z0-9_]*([.-][a-zA-Z0-9_]+)*$/.test(name))
          problems.push(`attribute name ${JSON.stringify(name)} is not valid`);
        if (typeof vt !== 'string' || !isValueType(vt)) {
          problems.push(
            `spec.attributes.${name}.valueType must be a value type (STRING, INT64, ...), got ${JSON.stringify(vt)}`,
          );
          continue;
        }
        const description =
          isObj(info) && typeof info.description === 'string' ? info.description : undefined;
        attrs.set(name, { valueType: vt, description });
      }
    result = { kind: 'attributemanifest', fqn, attributes: attrs };
  } else {
    problems.push(
      `unknown kind ${JSON.stringify(r.kind)} (mixer reads handler, instance, rule, attributemanifest)`,
    );
    return fail();
  }
  if (problems.length) fail();
  return result;
}

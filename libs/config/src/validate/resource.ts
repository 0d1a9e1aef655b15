// Validates one resource: the envelope (apiVersion, kind, metadata), the CRD-level structure of `spec`, and
// Istio's webhook rules. Every problem is collected; nothing stops at the first.
import { Issues } from '../issues';
import type { Issue } from '../issues';
import type { Resource } from '../model';
import { effectiveNamespace } from '../model';
import type { Registry } from '../registry';
import { any, int, map, obj, str, strings } from '../schema/build';
import { compile, isObj } from '../schema/compile';
import type { Obj } from '../schema/types';
import { isDNS1123Subdomain } from './common/names';

export type ValidationResult =
  | { readonly valid: true; readonly errors: readonly []; readonly warnings: readonly Issue[] }
  | { readonly valid: false; readonly errors: readonly Issue[]; readonly warnings: readonly Issue[] };

const checkMetadata = compile(
  obj({
    name: str(),
    generateName: str(),
    namespace: str(),
    labels: map(str()),
    annotations: map(str()),
    uid: str(),
    resourceVersion: str(),
    generation: int(),
    creationTimestamp: str({ nullable: true }),
    deletionTimestamp: str({ nullable: true }),
    deletionGracePeriodSeconds: int(),
    finalizers: strings(),
    ownerReferences: any(),
    managedFields: any(),
    selfLink: str(),
  }),
);

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
const DRY_RUN = 'istio.io/dry-run';
const GO_BOOL = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);

const NO_STRINGS: Record<string, string> = Object.freeze({});

/** The string entries of a labels/annotations map; the map itself when it holds only strings (the usual case). */
function stringMap(v: unknown): Record<string, string> {
  if (!isObj(v)) return NO_STRINGS;
  let onlyStrings = true;
  for (const k in v) {
    if (typeof v[k] !== 'string') {
      onlyStrings = false;
      break;
    }
  }
  if (onlyStrings) return v as Record<string, string>;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function result(issues: Issues): ValidationResult {
  return issues.errors.length === 0
    ? { valid: true, errors: [], warnings: issues.warnings }
    : { valid: false, errors: issues.errors, warnings: issues.warnings };
}

/** True when the resource belongs to an Istio API group (so an unknown kind there is an error). */
export function isIstioGroup(group: string): boolean {
  return group === 'istio.io' || group.endsWith('.istio.io');
}

export function validateResource(resource: Resource, registry: Registry): ValidationResult {
  const issues = new Issues();
  const def = registry.get(resource.group, resource.kind);
  if (!def || !def.versions.includes(resource.version)) {
    if (isIstioGroup(resource.group)) {
      const known = def
        ? ` (served versions: ${def.versions.map((v) => `${def.group}/${v}`).join(', ')})`
        : '';
      issues.errorAt(
        'kind',
        `no matches for kind "${resource.kind}" in version "${resource.apiVersion}"${known}`,
      );
    }
    return result(issues);
  }
  const o = resource.object;
  for (const key in o) if (!TOP_LEVEL.has(key)) issues.errorAt(key, `unknown field "${key}"`);
  issues.push('metadata');
  checkMetadata(o.metadata, issues);
  issues.pop();
  const md = isObj(o.metadata) ? o.metadata : {};
  if (typeof md.name === 'string' && !isDNS1123Subdomain(md.name)) {
    issues.errorAt(
      'metadata.name',
      `metadata.name: Invalid value: ${JSON.stringify(md.name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    );
  }
  const annotations = stringMap(md.annotations);
  const ctx = {
    name: resource.name,
    namespace: effectiveNamespace(resource),
    labels: stringMap(md.labels),
    annotations,
  };
  if (annotations[DRY_RUN] !== undefined) {
    const spec = isObj(o.spec) ? o.spec : {};
    const action = typeof spec.action === 'string' ? spec.action : 'ALLOW';
    if (def.kind !== 'AuthorizationPolicy') {
      issues.errorAt(
        'metadata.annotations',
        `${ctx.namespace}/${ctx.name} has unsupported annotation ${DRY_RUN}, please remove the annotation`,
      );
    } else if (action !== 'ALLOW' && action !== 'DENY') {
      issues.errorAt(
        'metadata.annotations',
        `the annotation ${DRY_RUN} currently only supports action ALLOW/DENY, found action ${action} in ${ctx.namespace}/${ctx.name}`,
      );
    } else if (!GO_BOOL.has(annotations[DRY_RUN])) {
      issues.errorAt(
        'metadata.annotations',
        `${ctx.namespace}/${ctx.name} has annotation ${DRY_RUN} with invalid value (${annotations[DRY_RUN]}): strconv.ParseBool: parsing "${annotations[DRY_RUN]}": invalid syntax`,
      );
    }
  }
  if (o.spec === undefined) {
    if (def.specRequired) issues.errorAt('spec', 'spec: Required value');
  } else {
    issues.push('spec');
    def.checkSpec(o.spec, issues);
    issues.pop();
  }
  if (
    def.semantic &&
    (o.spec === undefined || isObj(o.spec)) &&
    !(o.spec === undefined && def.specRequired)
  ) {
    issues.push('spec');
    def.semantic((o.spec as Obj | undefined) ?? {}, ctx, issues);
    issues.pop();
  }
  return result(issues);
}

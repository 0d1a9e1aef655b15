// Renders CustomResourceDefinitions (apiextensions.k8s.io/v1) from the project's schemas.
import type { KindDefinition, Registry } from './registry';
import type { Obj, Rule, Schema } from './schema/types';

function validations<T>(rules: readonly Rule<T>[] | undefined): Obj {
  const withCel = (rules ?? []).filter((r) => r.cel !== undefined);
  return withCel.length === 0
    ? {}
    : { 'x-kubernetes-validations': withCel.map((r) => ({ rule: r.cel, message: r.message })) };
}

function oneOfGroup(group: readonly string[]): Obj[] {
  return [
    { not: { anyOf: group.map((f) => ({ required: [f] })) } },
    ...group.map((f) => ({ required: [f] })),
  ];
}

/** The OpenAPI v3 (structural) form of a schema. */
export function toOpenAPI(schema: Schema): Obj {
  const base: Obj = {};
  if (schema.description) base.description = schema.description;
  if (schema.nullable) base.nullable = true;
  switch (schema.type) {
    case 'string':
      return {
        ...base,
        type: 'string',
        ...(schema.enum ? { enum: [...schema.enum] } : {}),
        ...(schema.format ? { format: schema.format } : {}),
        ...(schema.minLength !== undefined ? { minLength: schema.minLength } : {}),
        ...(schema.maxLength !== undefined ? { maxLength: schema.maxLength } : {}),
        ...(schema.pattern !== undefined ? { pattern: schema.pattern } : {}),
        ...validations(schema.rules),
      };
    case 'integer':
      return {
        ...base,
        type: 'integer',
        ...(schema.format ? { format: schema.format } : {}),
        ...(schema.minimum !== undefined ? { minimum: schema.minimum } : {}),
        ...(schema.maximum !== undefined ? { maximum: schema.maximum } : {}),
        ...validations(schema.rules),
      };
    case 'number':
      return {
        ...base,
        type: 'number',
        format: 'double',
        ...(schema.minimum !== undefined ? { minimum: schema.minimum } : {}),
        ...(schema.maximum !== undefined ? { maximum: schema.maximum } : {}),
      };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'object': {
      const properties: Obj = {};
      for (const [k, v] of Object.entries(schema.properties)) properties[k] = toOpenAPI(v);
      const groups = schema.oneOf ?? [];
      const oneOf =
        groups.length === 1
          ? { oneOf: oneOfGroup(groups[0]) }
          : groups.length > 1
            ? { allOf: groups.map((g) => ({ oneOf: oneOfGroup(g) })) }
            : {};
      return {
        ...base,
        type: 'object',
        properties,
        ...(schema.required?.length ? { required: [...schema.required] } : {}),
        ...oneOf,
        ...validations(schema.rules),
      };
    }
    case 'map':
      return {
        ...base,
        type: 'object',
        additionalProperties: toOpenAPI(schema.values),
        ...(schema.minProperties !== undefined ? { minProperties: schema.minProperties } : {}),
        ...(schema.maxProperties !== undefined ? { maxProperties: schema.maxProperties } : {}),
        ...validations(schema.rules),
      };
    case 'array':
      return {
        ...base,
        type: 'array',
        items: toOpenAPI(schema.items),
        ...(schema.minItems !== undefined ? { minItems: schema.minItems } : {}),
        ...(schema.maxItems !== undefined ? { maxItems: schema.maxItems } : {}),
        ...(schema.listMapKeys
          ? { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [...schema.listMapKeys] }
          : {}),
        ...validations(schema.rules),
      };
    case 'any':
      return { ...base, type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    case 'int-or-string':
      return { ...base, 'x-kubernetes-int-or-string': true };
  }
}

/** One CustomResourceDefinition object for a kind. */
export function customResourceDefinition(def: KindDefinition): Obj {
  const spec = toOpenAPI(def.spec);
  const openAPIV3Schema: Obj = {
    type: 'object',
    properties: { spec, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    ...(def.specRequired ? { required: ['spec'] } : {}),
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${def.group}`, labels: { 'app.kubernetes.io/part-of': 'flotilla' } },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.kind.toLowerCase(),
        ...(def.shortNames?.length ? { shortNames: [...def.shortNames] } : {}),
        ...(def.categories?.length ? { categories: [...def.categories] } : {}),
      },
      scope: 'Namespaced',
      versions: def.versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        subresources: { status: {} },
        schema: { openAPIV3Schema },
      })),
    },
  };
}

/** CRDs for every kind in the registry. */
export function customResourceDefinitions(registry: Registry): Obj[] {
  return registry.all().map((d) => customResourceDefinition(d));
}

// The project's own schema language for Istio resources. A schema describes the shape Kubernetes' structural
// OpenAPI validation enforces (types, enums, bounds, required fields, unknown fields) plus "rules": checks that
// Istio's CRDs express as CEL. Each rule carries both a predicate (used by the validator) and an optional CEL
// expression (used only when rendering a CustomResourceDefinition).

export type Obj = Record<string, unknown>;

/** A check on a value that the CRD layer rejects when it fails. */
export interface Rule<T> {
  readonly message: string;
  /** CEL text for the generated CRD (x-kubernetes-validations). */
  readonly cel?: string;
  /** True when the value is acceptable. */
  readonly test: (value: T) => boolean;
}

interface Base {
  readonly description?: string;
  /** null is an accepted value (Kubernetes `nullable: true`, used for protobuf wrapper types). */
  readonly nullable?: boolean;
}

export interface StringSchema extends Base {
  readonly type: 'string';
  readonly enum?: readonly string[];
  readonly minLength?: number;
  readonly maxLength?: number;
  /** Regular expression source (ECMAScript, anchored by the author). */
  readonly pattern?: string;
  readonly format?: 'byte' | 'date-time';
  readonly rules?: readonly Rule<string>[];
}

export interface IntegerSchema extends Base {
  readonly type: 'integer';
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: 'int32' | 'int64';
  readonly rules?: readonly Rule<number>[];
}

export interface NumberSchema extends Base {
  readonly type: 'number';
  readonly minimum?: number;
  readonly maximum?: number;
}

export interface BooleanSchema extends Base {
  readonly type: 'boolean';
}

export interface ObjectSchema extends Base {
  readonly type: 'object';
  readonly properties: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  /** Groups of fields of which at most one may be set (protobuf oneof). */
  readonly oneOf?: readonly (readonly string[])[];
  readonly rules?: readonly Rule<Obj>[];
}

export interface MapSchema extends Base {
  readonly type: 'map';
  readonly values: Schema;
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly rules?: readonly Rule<Obj>[];
}

export interface ArraySchema extends Base {
  readonly type: 'array';
  readonly items: Schema;
  readonly minItems?: number;
  readonly maxItems?: number;
  /** x-kubernetes-list-type: map with these keys: no two items may share the key values. */
  readonly listMapKeys?: readonly string[];
  readonly rules?: readonly Rule<unknown[]>[];
}

/** Free-form JSON (google.protobuf.Struct / preserve-unknown-fields). */
export interface AnySchema extends Base {
  readonly type: 'any';
  /** Only objects are accepted (Struct) rather than any JSON value. */
  readonly objectOnly?: boolean;
}

export interface IntOrStringSchema extends Base {
  readonly type: 'int-or-string';
}

export type Schema =
  | StringSchema
  | IntegerSchema
  | NumberSchema
  | BooleanSchema
  | ObjectSchema
  | MapSchema
  | ArraySchema
  | AnySchema
  | IntOrStringSchema;

// Small constructors that keep the per-kind schema files short and readable.
import type {
  AnySchema,
  ArraySchema,
  BooleanSchema,
  IntegerSchema,
  MapSchema,
  NumberSchema,
  Obj,
  ObjectSchema,
  Rule,
  Schema,
  StringSchema,
} from './types';

type Opts<T> = Omit<T, 'type'>;

export const str = (o: Opts<StringSchema> = {}): StringSchema => ({ type: 'string', ...o });
export const int = (o: Opts<IntegerSchema> = {}): IntegerSchema => ({ type: 'integer', ...o });
export const num = (o: Opts<NumberSchema> = {}): NumberSchema => ({ type: 'number', ...o });
export const bool = (o: Opts<BooleanSchema> = {}): BooleanSchema => ({ type: 'boolean', ...o });
export const any = (o: Opts<AnySchema> = {}): AnySchema => ({ type: 'any', ...o });
export const intOrString = (): Schema => ({ type: 'int-or-string' });

export const obj = (
  properties: Record<string, Schema>,
  o: Omit<Opts<ObjectSchema>, 'properties'> = {},
): ObjectSchema => ({
  type: 'object',
  properties,
  ...o,
});
export const map = (values: Schema, o: Omit<Opts<MapSchema>, 'values'> = {}): MapSchema => ({
  type: 'map',
  values,
  ...o,
});
export const arr = (items: Schema, o: Omit<Opts<ArraySchema>, 'items'> = {}): ArraySchema => ({
  type: 'array',
  items,
  ...o,
});

export const enumOf = (values: readonly string[], o: Opts<StringSchema> = {}): StringSchema =>
  str({ enum: values, ...o });

/** protobuf int32 */
export const i32 = (o: Opts<IntegerSchema> = {}): IntegerSchema => int({ format: 'int32', ...o });
/** protobuf uint32 */
export const u32 = (o: Opts<IntegerSchema> = {}): IntegerSchema =>
  int({ minimum: 0, maximum: 4294967295, ...o });
/** google.protobuf.UInt32Value */
export const u32Value = (): IntegerSchema => u32({ nullable: true });
/** google.protobuf.BoolValue */
export const boolValue = (): BooleanSchema => bool({ nullable: true });
/** google.protobuf.DoubleValue */
export const doubleValue = (o: Opts<NumberSchema> = {}): NumberSchema => num({ nullable: true, ...o });
export const strings = (o: Omit<Opts<ArraySchema>, 'items'> = {}): ArraySchema => arr(str(), o);
export const stringMap = (o: Omit<Opts<MapSchema>, 'values'> = {}): MapSchema => map(str(), o);

/** Counts how many of the named fields are present. */
export function countSet(value: Obj, fields: readonly string[]): number {
  let n = 0;
  for (const f of fields) if (value[f] !== undefined) n++;
  return n;
}

/** A rule: at most one of these fields may be set. */
export function atMostOne(fields: readonly string[], message: string): Rule<Obj> {
  return {
    message,
    cel: fields.map((f) => `(has(self.${f}) ? 1 : 0)`).join(' + ') + ' <= 1',
    test: (v) => countSet(v, fields) <= 1,
  };
}

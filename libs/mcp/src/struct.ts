import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { protobufStruct, typeUrlOf, unpackAny } from '@flotilla/proto';
import type { protobufAny } from '@flotilla/proto';

/** A JSON object, as a Kubernetes-style resource's spec is. */
export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** The type URL of a google.protobuf.Struct body. */
export const STRUCT_TYPE_URL = typeUrlOf(protobufStruct.Struct);

/**
 * A google.protobuf.Struct holding `json`. Struct can hold exactly JSON: a value it cannot represent (NaN,
 * Infinity, a bigint, a function, a Date or other non-plain object, undefined inside an array) is a TypeError
 * naming its path, rather than something silently lost on the wire. Undefined object properties are dropped, as
 * JSON.stringify drops them.
 */
export function structFromJson(json: Record<string, unknown>): protobufStruct.Struct {
  // One walk of the JSON checks and encodes it (packJsonBody); the message is its decoding.
  return protobufStruct.Struct.decode(packJsonBody(json).value);
}

/** The JSON object a google.protobuf.Struct holds. */
export function jsonFromStruct(struct: protobufStruct.Struct): JsonObject {
  return protobufStruct.Struct.unwrap(struct) as JsonObject;
}

/**
 * `json` as a Struct packed in an Any: the body of an MCP resource built from a JSON spec. The Struct's wire form
 * is written straight from the JSON (no intermediate Struct/Value objects): galley does this for every resource
 * it serves, and building the objects first doubled the cost of an initial load's MCP encoding. The bytes decode
 * as the same google.protobuf.Struct (see struct.spec.ts), and the same values are refused with their paths.
 */
export function packJsonBody(json: Record<string, unknown>): protobufAny.Any {
  const writer = new BinaryWriter();
  writeStructFields(writer, json, undefined);
  const bytes = writer.finish();
  return {
    typeUrl: STRUCT_TYPE_URL,
    value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  };
}

// Field tags (field number << 3 | wire type) of google.protobuf.Struct, Value and ListValue.
const STRUCT_FIELDS = (1 << 3) | 2; // map<string, Value> fields = 1 (entries: key = 1, value = 2)
const ENTRY_KEY = (1 << 3) | 2;
const ENTRY_VALUE = (2 << 3) | 2;
const NULL_VALUE = (1 << 3) | 0;
const NUMBER_VALUE = (2 << 3) | 1;
const STRING_VALUE = (3 << 3) | 2;
const BOOL_VALUE = (4 << 3) | 0;
const STRUCT_VALUE = (5 << 3) | 2;
const LIST_VALUE = (6 << 3) | 2;
const LIST_VALUES = (1 << 3) | 2; // repeated Value values = 1

/** A JSON path, built only when a value is refused: walking good input allocates no path strings. */
type Path = { parent: Path | undefined; key: string | number } | undefined;

function render(path: Path): string {
  if (path === undefined) return '$';
  const key = typeof path.key === 'number' ? `[${path.key}]` : `.${path.key}`;
  return render(path.parent) + key;
}

function writeStructFields(writer: BinaryWriter, object: Record<string, unknown>, path: Path): void {
  for (const key in object) {
    const value = object[key];
    if (value === undefined) continue;
    writer.uint32(STRUCT_FIELDS).fork();
    writer.uint32(ENTRY_KEY).string(key);
    writer.uint32(ENTRY_VALUE).fork();
    writeValue(writer, value, { parent: path, key });
    writer.join();
    writer.join();
  }
}

function writeValue(writer: BinaryWriter, value: unknown, path: Path): void {
  switch (typeof value) {
    case 'string':
      writer.uint32(STRING_VALUE).string(value);
      return;
    case 'boolean':
      writer.uint32(BOOL_VALUE).bool(value);
      return;
    case 'number':
      if (!Number.isFinite(value))
        throw new TypeError(`${render(path)}: ${value} cannot be represented in JSON`);
      writer.uint32(NUMBER_VALUE).double(value);
      return;
    case 'object':
      if (value === null) {
        writer.uint32(NULL_VALUE).int32(0);
        return;
      }
      if (Array.isArray(value)) {
        writer.uint32(LIST_VALUE).fork();
        for (let i = 0; i < value.length; i++) {
          if (value[i] === undefined)
            throw new TypeError(
              `${render({ parent: path, key: i })}: undefined cannot be represented in JSON`,
            );
          writer.uint32(LIST_VALUES).fork();
          writeValue(writer, value[i], { parent: path, key: i });
          writer.join();
        }
        writer.join();
        return;
      }
      if (isPlainObject(value)) {
        writer.uint32(STRUCT_VALUE).fork();
        writeStructFields(writer, value as Record<string, unknown>, path);
        writer.join();
        return;
      }
      throw new TypeError(
        `${render(path)}: a ${value.constructor?.name ?? 'object'} cannot be represented in JSON`,
      );
    default:
      throw new TypeError(`${render(path)}: a ${typeof value} cannot be represented in JSON`);
  }
}

/** The JSON object of a Struct body; throws (UnpackError) if the body is not a Struct. */
export function unpackJsonBody(body: protobufAny.Any): JsonObject {
  return jsonFromStruct(unpackAny(body, protobufStruct.Struct));
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

import { packAny, protobufStruct, typeUrlOf, unpackAny } from '@flotilla/proto';
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
  return protobufStruct.Struct.wrap(toJsonObject(json, '$'));
}

/** The JSON object a google.protobuf.Struct holds. */
export function jsonFromStruct(struct: protobufStruct.Struct): JsonObject {
  return protobufStruct.Struct.unwrap(struct) as JsonObject;
}

/** `json` as a Struct packed in an Any: the body of an MCP resource built from a JSON spec. */
export function packJsonBody(json: Record<string, unknown>): protobufAny.Any {
  return packAny(protobufStruct.Struct, structFromJson(json));
}

/** The JSON object of a Struct body; throws (UnpackError) if the body is not a Struct. */
export function unpackJsonBody(body: protobufAny.Any): JsonObject {
  return jsonFromStruct(unpackAny(body, protobufStruct.Struct));
}

function toJsonObject(value: Record<string, unknown>, path: string): JsonObject {
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out[key] = toJsonValue(v, `${path}.${key}`);
  }
  return out;
}

function toJsonValue(value: unknown, path: string): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} cannot be represented in JSON`);
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      if (v === undefined) throw new TypeError(`${path}[${i}]: undefined cannot be represented in JSON`);
      return toJsonValue(v, `${path}[${i}]`);
    });
  }
  if (typeof value === 'object' && isPlainObject(value))
    return toJsonObject(value as Record<string, unknown>, path);
  const kind = typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
  throw new TypeError(`${path}: a ${kind} cannot be represented in JSON`);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// Envoy reads its bootstrap as canonical proto3 JSON (durations as "1s", Anys with "@type", unknown fields
// rejected). ts-proto's toJSON/fromJSON are not canonical for well-known types, so the conversion goes through
// @bufbuild/protobuf over @flotilla/proto's descriptor set — the same descriptors the rule checker reads.
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson } from '@bufbuild/protobuf';
import type { DescMessage, FileRegistry, JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { readDescriptorSet } from '@flotilla/proto';

let registry: FileRegistry | undefined;

function messageDesc(typeName: string): { desc: DescMessage; registry: FileRegistry } {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, readDescriptorSet()));
  const desc = registry.getMessage(typeName);
  if (!desc) throw new Error(`${typeName} is not in @flotilla/proto's descriptor set`);
  return { desc, registry };
}

/** Binary protobuf of `typeName` as canonical proto3 JSON. */
export function canonicalJson(typeName: string, bytes: Uint8Array): JsonValue {
  const { desc, registry } = messageDesc(typeName);
  return toJson(desc, fromBinary(desc, bytes, { readUnknownFields: false }), { registry });
}

/** Canonical (or any valid) proto3 JSON of `typeName` as binary protobuf; throws on unknown fields or bad values. */
export function binaryFromJson(typeName: string, json: JsonValue): Uint8Array {
  const { desc, registry } = messageDesc(typeName);
  return toBinary(desc, fromJson(desc, json, { registry }));
}

import { ads } from '@flotilla/proto';
import type { discovery, protobufAny } from '@flotilla/proto';

type Any = protobufAny.Any;

/**
 * DiscoveryResponse to wire bytes, byte for byte what the generated encoder writes, in one exactly sized buffer.
 * A push writes the same few resources (shared Any objects, from the encoded-resource cache) to thousands of
 * streams with only the version and nonce differing; the generic encoder re-copies every resource into a growing
 * buffer for each. Here each Any's own encoding is made once and memoised on the object (checked against its
 * fields, so a mutated Any is encoded again), and a response is a header of strings plus those bytes copied once.
 *
 * Fields (envoy.service.discovery.v3.DiscoveryResponse): 1 version_info, 2 resources (Any: 1 type_url, 2 value),
 * 3 canary, 4 type_url, 5 nonce, 6 control_plane (ControlPlane: 1 identifier); proto3 defaults are not written.
 */
export function encodeDiscoveryResponse(response: discovery.DiscoveryResponse): Buffer {
  const shared = sharedEncodings.get(response);
  if (shared) return shared;
  const bytes = encodeResponse(response);
  if (shared === null) sharedEncodings.set(response, bytes);
  return bytes;
}

/** Responses written to many streams, by object: null until first encoded, then their bytes. */
const sharedEncodings = new WeakMap<discovery.DiscoveryResponse, Buffer | null>();

/**
 * Marks a response that will be written to many streams unchanged (a partial push's shared response): it is
 * encoded once. The caller must not modify it afterwards.
 */
export function encodeOnce(response: discovery.DiscoveryResponse): void {
  if (!sharedEncodings.has(response)) sharedEncodings.set(response, null);
}

function encodeResponse(response: discovery.DiscoveryResponse): Buffer {
  const resources = response.resources;
  const encoded: Buffer[] = new Array(resources.length);
  let size = stringFieldSize(response.versionInfo);
  for (let i = 0; i < resources.length; i++) {
    const any = (encoded[i] = encodedAny(resources[i]));
    size += 1 + varintSize(any.length) + any.length;
  }
  if (response.canary) size += 2;
  size += stringFieldSize(response.typeUrl) + stringFieldSize(response.nonce);
  const identifier = response.controlPlane?.identifier;
  const controlPlaneSize = identifier === undefined ? -1 : stringFieldSize(identifier);
  if (controlPlaneSize >= 0) size += 1 + varintSize(controlPlaneSize) + controlPlaneSize;

  const out = Buffer.allocUnsafe(size);
  let at = writeStringField(out, 0, 10, response.versionInfo);
  for (const any of encoded) {
    out[at++] = 18;
    at = writeVarint(out, at, any.length);
    at += any.copy(out, at);
  }
  if (response.canary) {
    out[at++] = 24;
    out[at++] = 1;
  }
  at = writeStringField(out, at, 34, response.typeUrl);
  at = writeStringField(out, at, 42, response.nonce);
  if (controlPlaneSize >= 0) {
    out[at++] = 50;
    at = writeVarint(out, at, controlPlaneSize);
    at = writeStringField(out, at, 10, identifier!);
  }
  return out;
}

/** The ADS service definition with encodeDiscoveryResponse as StreamAggregatedResources' response serializer. */
export const ADS_SERVICE = {
  ...ads.AggregatedDiscoveryServiceService,
  streamAggregatedResources: {
    ...ads.AggregatedDiscoveryServiceService.streamAggregatedResources,
    responseSerialize: encodeDiscoveryResponse,
  },
} as const;

interface EncodedAny {
  typeUrl: string;
  value: Uint8Array;
  bytes: Buffer;
}

const anyMemo = new WeakMap<Any, EncodedAny>();

function encodedAny(any: Any): Buffer {
  const hit = anyMemo.get(any);
  if (hit && hit.value === any.value && hit.typeUrl === any.typeUrl) return hit.bytes;
  const valueSize = any.value.length === 0 ? 0 : 1 + varintSize(any.value.length) + any.value.length;
  const bytes = Buffer.allocUnsafe(stringFieldSize(any.typeUrl) + valueSize);
  let at = writeStringField(bytes, 0, 10, any.typeUrl);
  if (any.value.length !== 0) {
    bytes[at++] = 18;
    at = writeVarint(bytes, at, any.value.length);
    bytes.set(any.value, at);
  }
  anyMemo.set(any, { typeUrl: any.typeUrl, value: any.value, bytes });
  return bytes;
}

/** Tag, length and UTF-8 bytes of a string field; 0 for the empty string, which proto3 does not write. */
function stringFieldSize(s: string): number {
  if (s === '') return 0;
  const n = Buffer.byteLength(s, 'utf8');
  return 1 + varintSize(n) + n;
}

function writeStringField(out: Buffer, at: number, tag: number, s: string): number {
  if (s === '') return at;
  out[at++] = tag;
  const n = Buffer.byteLength(s, 'utf8');
  at = writeVarint(out, at, n);
  return at + out.write(s, at, n, 'utf8');
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

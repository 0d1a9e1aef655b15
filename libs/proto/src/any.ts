import type { Any } from './gen/google/protobuf/any';
import { messageTypeRegistry } from './gen/typeRegistry';
import type { MessageType, UnknownMessage } from './gen/typeRegistry';

/** The prefix every xDS and MCP type URL carries (protobuf's Any convention). */
export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** A generated message type: what `packAny` needs to know about a message to encode it. */
export interface PackableType<M> {
  readonly $type: string;
  encode(message: M): { finish(): Uint8Array };
}

export function typeUrlOf(type: { readonly $type: string }): string {
  return TYPE_URL_PREFIX + type.$type;
}

/** Packs a message into google.protobuf.Any with its type URL. */
export function packAny<M>(type: PackableType<M>, message: M): Any {
  const bytes = type.encode(message).finish();
  return { typeUrl: typeUrlOf(type), value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/** Thrown when an Any names a type this build does not know, or its bytes do not decode as that type. */
export class UnpackError extends Error {
  constructor(
    readonly typeUrl: string,
    reason: string,
  ) {
    super(`cannot unpack Any of type ${JSON.stringify(typeUrl)}: ${reason}`);
    this.name = 'UnpackError';
  }
}

/** Finds the generated message type for a type URL ("type.googleapis.com/envoy.config.listener.v3.Listener"). */
export function lookupType(typeUrl: string): MessageType | undefined {
  const slash = typeUrl.lastIndexOf('/');
  return messageTypeRegistry.get(slash >= 0 ? typeUrl.slice(slash + 1) : typeUrl);
}

/**
 * Unpacks an Any by its type URL. With `expected`, the Any must hold that type; without it, any registered type
 * is accepted and the caller narrows by `$type`.
 */
export function unpackAny<M extends UnknownMessage>(any: Any, expected?: MessageType<M>): M {
  const type = lookupType(any.typeUrl);
  if (!type) throw new UnpackError(any.typeUrl, 'unknown message type');
  if (expected && type.$type !== expected.$type) {
    throw new UnpackError(any.typeUrl, `expected ${TYPE_URL_PREFIX}${expected.$type}`);
  }
  try {
    return type.decode(any.value) as M;
  } catch (err) {
    throw new UnpackError(any.typeUrl, (err as Error).message);
  }
}

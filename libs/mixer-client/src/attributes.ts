/**
 * The client's own encoding of attributes as istio.mixer.v1 CompressedAttributes. mixer-core (scope:mixer) has
 * the server's codec and global dictionary; this lib may not import it, so it sends global_word_count 0 and every
 * word in the message's own word list (index -1 is words[0], -2 is words[1], ...), which any mixer accepts.
 */
import type { mixerAttributes } from '@flotilla/proto';

/** A protobuf Duration, as mixer's duration attributes (e.g. response.duration) carry it. */
export interface DurationValue {
  seconds: number;
  nanos: number;
}

/** A double that happens to be integral (e.g. 1.0) — plain integral numbers travel as int64. */
export interface DoubleValue {
  double: number;
}

export type AttributeValue =
  | string
  | number
  | boolean
  | Date
  | Uint8Array
  | DurationValue
  | DoubleValue
  | Readonly<Record<string, string>>;

/** One request's attributes: name → value. A name that is absent is simply not in the map. */
export type Attributes = ReadonlyMap<string, AttributeValue>;

/** Builds an attribute map from a plain object (undefined values are left out, i.e. absent). */
export function attributesOf(
  values: Record<string, AttributeValue | undefined>,
): Map<string, AttributeValue> {
  const out = new Map<string, AttributeValue>();
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out.set(k, v);
  return out;
}

export function isDurationValue(v: AttributeValue): v is DurationValue {
  return typeof v === 'object' && v !== null && 'seconds' in v && 'nanos' in v && Object.keys(v).length === 2;
}

export function isDoubleValue(v: AttributeValue): v is DoubleValue {
  return typeof v === 'object' && v !== null && 'double' in v && Object.keys(v).length === 1;
}

/** Assigns message-word indices (-1, -2, ...) to strings, each distinct string once. */
export class MessageWords {
  readonly words: string[] = [];
  private readonly index = new Map<string, number>();

  of(word: string): number {
    let i = this.index.get(word);
    if (i === undefined) {
      this.words.push(word);
      i = -this.words.length;
      this.index.set(word, i);
    }
    return i;
  }
}

/** Encodes attributes with every word in the message (global_word_count 0). */
export function encodeAttributes(attrs: Attributes): mixerAttributes.CompressedAttributes {
  const w = new MessageWords();
  const out: mixerAttributes.CompressedAttributes = {
    words: w.words,
    strings: {},
    int64s: {},
    doubles: {},
    bools: {},
    timestamps: {},
    durations: {},
    bytes: {},
    stringMaps: {},
  };
  for (const [name, v] of attrs) {
    const k = w.of(name);
    if (typeof v === 'string') out.strings[k] = w.of(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) out.int64s[k] = v;
      else out.doubles[k] = v;
    } else if (typeof v === 'boolean') out.bools[k] = v;
    else if (v instanceof Date) out.timestamps[k] = v;
    else if (v instanceof Uint8Array) out.bytes[k] = Buffer.from(v);
    else if (isDurationValue(v)) out.durations[k] = { seconds: v.seconds, nanos: v.nanos };
    else if (isDoubleValue(v)) out.doubles[k] = v.double;
    else {
      const entries: { [key: number]: number } = {};
      for (const [mk, mv] of Object.entries(v)) entries[w.of(mk)] = w.of(mv);
      out.stringMaps[k] = { entries };
    }
  }
  return out;
}

/** A stable text form of one value, for cache signatures (type-tagged so "1" and 1 differ). */
export function valueKey(v: AttributeValue): string {
  if (typeof v === 'string') return `s:${v}`;
  if (typeof v === 'number') return `n:${v}`;
  if (typeof v === 'boolean') return `b:${v}`;
  if (v instanceof Date) return `t:${v.getTime()}`;
  if (v instanceof Uint8Array) return `y:${Buffer.from(v).toString('base64')}`;
  if (isDurationValue(v)) return `d:${v.seconds}.${v.nanos}`;
  if (isDoubleValue(v)) return `n:${v.double}`;
  const keys = Object.keys(v).sort();
  return `m:${JSON.stringify(keys.map((k) => [k, v[k]]))}`;
}

import type { Duration, StringMap, Value, ValueType } from '@flotilla/mixer-adapter-sdk';
import { isDuration } from '@flotilla/mixer-adapter-sdk';
import type { mixerAttributes } from '@flotilla/proto';
import type { AttributeBag } from './bag';
import { GLOBAL_WORDS, GLOBAL_WORD_INDEX } from './global-words';

type CompressedAttributes = mixerAttributes.CompressedAttributes;

/** The request's attributes could not be decoded: the message says which index or count was wrong. */
export class AttributeDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttributeDecodeError';
  }
}

/** The client encoded against a larger global dictionary than this mixer has: refused (FAILED_PRECONDITION). */
export class GlobalWordCountError extends AttributeDecodeError {
  constructor(
    readonly clientCount: number,
    readonly serverCount: number,
  ) {
    super(
      `global_word_count ${clientCount} is larger than this mixer's global dictionary of ${serverCount} words; ` +
        `the client was built against a newer dictionary (send words it does not share in the message's words)`,
    );
    this.name = 'GlobalWordCountError';
  }
}

/**
 * Resolves word indices of one message: index >= 0 is a word of the global dictionary (valid below the client's
 * global_word_count), index < 0 is the message's own word -index-1.
 */
export class WordTable {
  private readonly globalCount: number;

  constructor(
    readonly messageWords: readonly string[],
    globalWordCount: number,
    readonly globalWords: readonly string[] = GLOBAL_WORDS,
  ) {
    if (globalWordCount > globalWords.length)
      throw new GlobalWordCountError(globalWordCount, globalWords.length);
    this.globalCount = globalWordCount;
  }

  word(index: number, what: string): string {
    if (index >= 0) {
      if (index < this.globalCount) return this.globalWords[index];
      throw new AttributeDecodeError(
        `${what}: word index ${index} is outside the global dictionary the client declared (global_word_count ${this.globalCount})`,
      );
    }
    const w = this.messageWords[-index - 1];
    if (w === undefined)
      throw new AttributeDecodeError(
        `${what}: word index ${index} is outside the message's ${this.messageWords.length} words`,
      );
    return w;
  }
}

function eachKey<V>(map: { [key: number]: V } | undefined, fn: (key: number, value: V) => void): void {
  if (!map) return;
  for (const k in map) fn(Number(k), map[k as unknown as number]);
}

/**
 * Decodes one CompressedAttributes into `into` (a fresh bag, or the previous entry's bag under delta encoding).
 * Throws AttributeDecodeError naming the bad index.
 */
export function decodeAttributes(
  message: CompressedAttributes,
  words: WordTable,
  into: Map<string, Value> = new Map(),
): Map<string, Value> {
  const name = (i: number) => words.word(i, 'attribute name');
  eachKey(message.strings, (k, v) => {
    const n = name(k);
    into.set(n, words.word(v, `value of ${n}`));
  });
  eachKey(message.int64s, (k, v) => into.set(name(k), Number(v)));
  eachKey(message.doubles, (k, v) => into.set(name(k), v));
  eachKey(message.bools, (k, v) => into.set(name(k), v));
  eachKey(message.timestamps, (k, v) => into.set(name(k), v));
  eachKey(message.durations, (k, v) => into.set(name(k), { seconds: Number(v.seconds), nanos: v.nanos }));
  eachKey(message.bytes, (k, v) => into.set(name(k), v));
  eachKey(message.stringMaps, (k, v) => {
    const n = name(k);
    const map: Record<string, string> = Object.create(null);
    eachKey(v.entries, (mk, mv) => {
      map[words.word(mk, `key in ${n}`)] = words.word(mv, `value in ${n}`);
    });
    into.set(n, map);
  });
  return into;
}

/** Assigns word indices while encoding: global words by their index, others appended to the message's words. */
export class WordEncoder {
  readonly words: string[] = [];
  private readonly own = new Map<string, number>();

  constructor(private readonly globalWordCount: number = GLOBAL_WORDS.length) {}

  index(word: string): number {
    const g = GLOBAL_WORD_INDEX.get(word);
    if (g !== undefined && g < this.globalWordCount) return g;
    let i = this.own.get(word);
    if (i === undefined) {
      this.words.push(word);
      i = -this.words.length;
      this.own.set(word, i);
    }
    return i;
  }

  /** As index(), but never 0 (for fields where 0 means "unset"). */
  indexNotZero(word: string): number {
    const i = this.index(word);
    if (i !== 0) return i;
    let own = this.own.get(word);
    if (own === undefined) {
      this.words.push(word);
      own = -this.words.length;
      this.own.set(word, own);
    }
    return own;
  }
}

/** What kind of wire slot each value goes in; types from the manifest when known, else from the JS value. */
function slotOf(v: Value, declared: ValueType | undefined): keyof CompressedAttributes {
  if (declared === 'DOUBLE') return 'doubles';
  if (declared === 'INT64') return 'int64s';
  if (typeof v === 'string') return 'strings';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64s' : 'doubles';
  if (typeof v === 'boolean') return 'bools';
  if (v instanceof Date) return 'timestamps';
  if (v instanceof Uint8Array) return 'bytes';
  if (isDuration(v)) return 'durations';
  return 'stringMaps';
}

/** Encodes a bag as CompressedAttributes (the client side of the protocol; tests and the client library use it). */
export function encodeAttributes(
  bag: AttributeBag,
  encoder: WordEncoder = new WordEncoder(),
  typeOf: (name: string) => ValueType | undefined = () => undefined,
): CompressedAttributes {
  const out: CompressedAttributes = {
    words: [],
    strings: {},
    int64s: {},
    doubles: {},
    bools: {},
    timestamps: {},
    durations: {},
    bytes: {},
    stringMaps: {},
  };
  for (const [name, v] of bag) {
    const k = encoder.index(name);
    switch (slotOf(v, typeOf(name))) {
      case 'strings':
        out.strings[k] = encoder.index(v as string);
        break;
      case 'int64s':
        out.int64s[k] = v as number;
        break;
      case 'doubles':
        out.doubles[k] = v as number;
        break;
      case 'bools':
        out.bools[k] = v as boolean;
        break;
      case 'timestamps':
        out.timestamps[k] = v as Date;
        break;
      case 'bytes':
        out.bytes[k] = Buffer.from(v as Uint8Array);
        break;
      case 'durations':
        out.durations[k] = { seconds: (v as Duration).seconds, nanos: (v as Duration).nanos };
        break;
      default: {
        const entries: { [key: number]: number } = {};
        for (const [mk, mv] of Object.entries(v as StringMap)) entries[encoder.index(mk)] = encoder.index(mv);
        out.stringMaps[k] = { entries };
      }
    }
  }
  out.words = encoder.words;
  return out;
}

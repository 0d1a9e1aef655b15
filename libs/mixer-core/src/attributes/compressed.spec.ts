import { mixerAttributes } from '@flotilla/proto';
import type { Value } from '@flotilla/mixer-adapter-sdk';
import {
  AttributeDecodeError,
  GlobalWordCountError,
  WordEncoder,
  WordTable,
  decodeAttributes,
  encodeAttributes,
} from './compressed';
import { GLOBAL_WORDS } from './global-words';

const empty = (): mixerAttributes.CompressedAttributes => ({
  words: [],
  strings: {},
  int64s: {},
  doubles: {},
  bools: {},
  timestamps: {},
  durations: {},
  bytes: {},
  stringMaps: {},
});

describe('the global word list', () => {
  it("holds Istio 1.4's 202 words in their wire order", () => {
    // Indices are wire format: a reordering would make every client's attributes mean something else.
    expect(GLOBAL_WORDS).toHaveLength(202);
    expect(GLOBAL_WORDS[0]).toBe('source.ip');
    expect(GLOBAL_WORDS[15]).toBe('request.headers');
    expect(GLOBAL_WORDS[31]).toBe(':authority');
    expect(GLOBAL_WORDS.indexOf("'200'")).toBe(94);
    expect(GLOBAL_WORDS.indexOf('destination.service')).toBe(152);
    expect(GLOBAL_WORDS[201]).toBe('context.reporter.kind');
    expect(new Set(GLOBAL_WORDS).size).toBe(GLOBAL_WORDS.length);
  });
});

describe('CompressedAttributes decoding', () => {
  it('reads indices >= 0 from the global dictionary and negative ones from the message words', () => {
    const msg = empty();
    msg.words = ['x-user', 'banned', 'my.attr'];
    msg.strings[GLOBAL_WORDS.indexOf('request.method')] = GLOBAL_WORDS.indexOf('GET');
    msg.strings[-3] = -2; // my.attr = banned
    msg.int64s[GLOBAL_WORDS.indexOf('response.code')] = 403;
    msg.bools[GLOBAL_WORDS.indexOf('connection.mtls')] = true;
    msg.stringMaps[GLOBAL_WORDS.indexOf('request.headers')] = {
      entries: { [-1]: -2, [GLOBAL_WORDS.indexOf(':path')]: GLOBAL_WORDS.indexOf('0') },
    };
    const bag = decodeAttributes(msg, new WordTable(msg.words, GLOBAL_WORDS.length));
    expect(bag.get('request.method')).toBe('GET');
    expect(bag.get('my.attr')).toBe('banned');
    expect(bag.get('response.code')).toBe(403);
    expect(bag.get('connection.mtls')).toBe(true);
    expect({ ...(bag.get('request.headers') as object) }).toEqual({ 'x-user': 'banned', ':path': '0' });
  });

  it('refuses a global_word_count larger than its dictionary, naming both sizes', () => {
    expect(() => new WordTable([], 203)).toThrow(GlobalWordCountError);
    expect(() => new WordTable([], 203)).toThrow(
      /global_word_count 203 is larger than this mixer's global dictionary of 202 words/,
    );
  });

  it('refuses global indices at or above the count the client declared, and message indices past its words', () => {
    const msg = empty();
    msg.strings[150] = 0;
    expect(() => decodeAttributes(msg, new WordTable([], 100))).toThrow(
      /word index 150 is outside the global dictionary the client declared \(global_word_count 100\)/,
    );
    const msg2 = empty();
    msg2.words = ['a'];
    msg2.strings[-1] = -2;
    expect(() => decodeAttributes(msg2, new WordTable(msg2.words, 202))).toThrow(AttributeDecodeError);
  });

  it('round-trips every value kind through encode → protobuf bytes → decode', () => {
    const bag = new Map<string, Value>([
      ['request.path', '/reviews/1'],
      ['custom.word', 'not-in-the-dictionary'],
      ['response.code', 200],
      ['request.size', 0],
      ['some.ratio', 0.25],
      ['connection.mtls', false],
      ['request.time', new Date('2020-01-02T03:04:05.006Z')],
      ['response.duration', { seconds: 1, nanos: 500_000_000 }],
      ['source.ip', Uint8Array.from([10, 0, 0, 1])],
      ['request.headers', { ':authority': 'reviews', 'x-custom': 'yes' }],
    ]);
    const encoder = new WordEncoder();
    const wire = mixerAttributes.CompressedAttributes.encode(encodeAttributes(bag, encoder)).finish();
    const msg = mixerAttributes.CompressedAttributes.decode(wire);
    // Words in the global dictionary travel as indices; only the others are sent as text.
    expect([...msg.words].sort()).toEqual(
      [
        '/reviews/1',
        'custom.word',
        'not-in-the-dictionary',
        'reviews',
        'some.ratio',
        'x-custom',
        'yes',
      ].sort(),
    );
    const back = decodeAttributes(msg, new WordTable(msg.words, GLOBAL_WORDS.length));
    expect(back.get('request.path')).toBe('/reviews/1');
    expect(back.get('custom.word')).toBe('not-in-the-dictionary');
    expect(back.get('response.code')).toBe(200);
    expect(back.get('request.size')).toBe(0);
    expect(back.get('some.ratio')).toBe(0.25);
    expect(back.get('connection.mtls')).toBe(false);
    expect((back.get('request.time') as Date).toISOString()).toBe('2020-01-02T03:04:05.006Z');
    expect(back.get('response.duration')).toEqual({ seconds: 1, nanos: 500_000_000 });
    expect(Array.from(back.get('source.ip') as Uint8Array)).toEqual([10, 0, 0, 1]);
    expect({ ...(back.get('request.headers') as object) }).toEqual({
      ':authority': 'reviews',
      'x-custom': 'yes',
    });
  });

  it('encodes against a smaller global dictionary by sending the newer words as message words', () => {
    const encoder = new WordEncoder(100);
    const msg = encodeAttributes(new Map([['destination.service', 'ratings']]), encoder);
    expect(msg.words).toContain('destination.service'); // index 152 is past what a 100-word client knows
    const back = decodeAttributes(msg, new WordTable(msg.words, 100));
    expect(back.get('destination.service')).toBe('ratings');
  });
});

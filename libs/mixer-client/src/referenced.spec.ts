import { mixerCheck } from '@flotilla/proto';
import { attributesOf } from './attributes';
import { Referenced } from './referenced';

const C = mixerCheck.ReferencedAttributes_Condition;

describe('Referenced', () => {
  it('keys on exact values (including map keys) and requires absences', () => {
    const ref = Referenced.parse(
      mixerCheck.ReferencedAttributes.fromPartial({
        words: ['request.headers', 'x-user', 'source.uid', 'destination.port'],
        attributeMatches: [
          { name: -1, mapKey: -2, condition: C.EXACT },
          { name: -3, condition: C.ABSENCE },
          { name: -4, condition: C.EXACT },
        ],
      }),
    )!;
    const a = ref.signature(
      attributesOf({ 'request.headers': { 'x-user': 'a', y: '1' }, 'destination.port': 80 }),
    );
    const b = ref.signature(
      attributesOf({ 'request.headers': { 'x-user': 'a', y: '2' }, 'destination.port': 80 }),
    );
    expect(a).toBeDefined();
    expect(a).toBe(b);
    expect(
      ref.signature(attributesOf({ 'request.headers': { 'x-user': 'a' }, 'destination.port': '80' })),
    ).not.toBe(a);
    expect(
      ref.signature(attributesOf({ 'request.headers': { y: '1' }, 'destination.port': 80 })),
    ).toBeUndefined();
    expect(
      ref.signature(
        attributesOf({ 'request.headers': { 'x-user': 'a' }, 'destination.port': 80, 'source.uid': 'u' }),
      ),
    ).toBeUndefined();
  });

  it('refuses what cannot be a cache key: REGEX, global word indices, indices outside the words', () => {
    const parse = (m: Partial<mixerCheck.ReferencedAttributes_AttributeMatch>) =>
      Referenced.parse(mixerCheck.ReferencedAttributes.fromPartial({ words: ['a'], attributeMatches: [m] }));
    expect(parse({ name: -1, condition: C.REGEX, regex: '.*' })).toBeUndefined();
    expect(parse({ name: 3, condition: C.EXACT })).toBeUndefined();
    expect(parse({ name: -2, condition: C.EXACT })).toBeUndefined();
    expect(parse({ name: -1, condition: C.EXACT })).toBeDefined();
  });
});

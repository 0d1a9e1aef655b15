import fc from 'fast-check';
import { attributeOf, fieldOf } from './cel-env';

describe('attribute names as CEL fields', () => {
  it('mangles dots and underscores into one identifier, reversibly', () => {
    expect(fieldOf('request.headers')).toBe('request__headers');
    expect(fieldOf('source.workload_name')).toBe('source__workload_uname');
    expect(fieldOf('a._b')).toBe('a___ub');
    expect(fieldOf('a_.b')).toBe('a_u__b');
    for (const name of ['request.headers', 'source.workload_name', 'a._b', 'a_.b', '_x.__y'])
      expect(attributeOf(fieldOf(name)!)).toBe(name);
  });

  it('keeps CEL keywords and names cel-js reads on objects out of the field names', () => {
    expect(fieldOf('in')).toBe('in_r');
    expect(fieldOf('null')).toBe('null_r');
    expect(fieldOf('constructor')).toBe('constructor_r');
    expect(attributeOf('constructor_r')).toBe('constructor');
    expect(fieldOf('in.x')).toBe('in__x');
  });

  it('gives no field to a name no expression can mention', () => {
    expect(fieldOf('x-forwarded.for')).toBeUndefined();
    expect(fieldOf('a..b')).toBeUndefined();
    expect(fieldOf('1st.attr')).toBeUndefined();
  });

  it('never gives two names the same field, and every field is a CEL identifier', () => {
    const segment = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/);
    const name = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
    fc.assert(
      fc.property(name, name, (a, b) => {
        const fa = fieldOf(a)!;
        expect(fa).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
        expect(attributeOf(fa)).toBe(a);
        if (a !== b) expect(fieldOf(b)).not.toBe(fa);
      }),
    );
  });
});

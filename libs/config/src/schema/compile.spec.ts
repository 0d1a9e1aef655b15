import fc from 'fast-check';
import { Issues } from '../issues';
import { any, arr, bool, enumOf, i32, int, intOrString, map, num, obj, str, u32 } from './build';
import { compile, quickValid } from './compile';

const check = compile(
  obj(
    {
      name: str({ minLength: 1 }),
      mode: enumOf(['A', 'B']),
      weight: i32({ minimum: 0, maximum: 100 }),
      labels: map(str(), { minProperties: 1 }),
      ports: arr(obj({ name: str(), number: i32() }, { required: ['number'] }), { listMapKeys: ['name'] }),
      a: str(),
      b: str(),
    },
    { required: ['name'], oneOf: [['a', 'b']] },
  ),
);

function run(value: unknown): string[] {
  const issues = new Issues();
  issues.push('spec');
  check(value, issues);
  return issues.errors.map((e) => `${e.path} | ${e.message}`);
}

describe('compiled schemas', () => {
  it('accepts a value that matches', () => {
    expect(
      run({ name: 'x', mode: 'A', weight: 5, labels: { a: 'b' }, ports: [{ name: 'p', number: 1 }] }),
    ).toEqual([]);
  });

  it('reports an unknown field with its full path', () => {
    expect(run({ name: 'x', extra: 1 })).toEqual(['spec.extra | unknown field "spec.extra"']);
  });

  it('reports a missing required field under its own path', () => {
    expect(run({})).toEqual(['spec.name | spec.name: Required value']);
  });

  it('names the supported values of an enum', () => {
    expect(run({ name: 'x', mode: 'C' })[0]).toContain('Unsupported value: "C": supported values: "A", "B"');
  });

  it('reports wrong types, including null, the way Kubernetes does', () => {
    expect(run({ name: null })).toEqual([
      'spec.name | spec.name: Invalid value: "null": spec.name in body must be of type string: "null"',
    ]);
  });

  it('checks integer bounds', () => {
    expect(run({ name: 'x', weight: 101 })[0]).toContain(
      'spec.weight in body should be less than or equal to 100',
    );
    expect(run({ name: 'x', weight: 1.5 })[0]).toContain('must be of type integer');
  });

  it('rejects more than one field of a oneOf group', () => {
    expect(run({ name: 'x', a: '1', b: '2' })[0]).toContain('only one of a, b may be set');
  });

  it('rejects duplicate keys in a list-map', () => {
    expect(
      run({
        name: 'x',
        ports: [
          { name: 'p', number: 1 },
          { name: 'p', number: 2 },
        ],
      }),
    ).toEqual(['spec.ports[1] | spec.ports[1]: Duplicate value: {"name":"p"}']);
  });

  it('collects every error instead of stopping at the first', () => {
    expect(run({ mode: 'C', weight: -1, labels: {}, ports: [{}] })).toHaveLength(5);
  });
});

describe('quickValid', () => {
  // The shortcut must never accept what the full check reports: compare them on arbitrary JSON-ish values.
  const leaves = [
    str(),
    str({ minLength: 2, maxLength: 5, pattern: '^[a-z]+$', nullable: true }),
    enumOf(['A', 'B']),
    str({ rules: [{ test: (v: string) => !v.includes('x'), message: 'no x' }] }),
    int(),
    i32({ minimum: -3, maximum: 7 }),
    u32(),
    num({ minimum: 0.5, maximum: 2 }),
    bool({ nullable: true }),
    intOrString(),
    any({ objectOnly: true }),
    any(),
  ];
  const values = fc.oneof(
    fc.string({ maxLength: 7 }),
    fc.constantFrom(
      'A',
      'B',
      'ab',
      'abc',
      'x',
      '',
      null,
      undefined,
      true,
      false,
      NaN,
      2 ** 31,
      -(2 ** 31) - 1,
    ),
    fc.integer({ min: -10, max: 10 }),
    fc.double({ noNaN: false }),
    fc.array(fc.integer(), { maxLength: 2 }),
    fc.dictionary(fc.string({ maxLength: 2 }), fc.integer(), { maxKeys: 2 }),
  );

  it('accepts a leaf value only when the full check reports nothing, and knows no composites', () => {
    for (const schema of leaves) {
      const quick = quickValid(schema)!;
      const full = compile(schema);
      fc.assert(
        fc.property(values, (v) => {
          const issues = new Issues();
          full(v, issues);
          if (quick(v)) expect(issues.errors).toEqual([]);
        }),
        { numRuns: 500 },
      );
    }
    expect(quickValid(obj({}))).toBeUndefined();
    expect(quickValid(arr(str()))).toBeUndefined();
    expect(quickValid(map(str()))).toBeUndefined();
    // And it is not vacuous: it accepts the plainly valid.
    expect(quickValid(i32({ minimum: -3, maximum: 7 }))!(7)).toBe(true);
    expect(quickValid(enumOf(['A', 'B']))!('B')).toBe(true);
  });

  it('still reports leaf problems inside objects, arrays and maps with their paths', () => {
    const nested = compile(obj({ a: arr(i32({ maximum: 3 })), m: map(enumOf(['X'])) }));
    const issues = new Issues();
    nested({ a: [1, 9], m: { k: 'Y', ok: 'X' } }, issues);
    expect(issues.errors.map((e) => e.path)).toEqual(['a[1]', 'm[k]']);
  });
});

import { Issues } from '../issues';
import { arr, enumOf, i32, map, obj, str } from './build';
import { compile } from './compile';

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

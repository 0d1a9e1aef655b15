import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runValidate } from './validate';

const VALID_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
`;
const INVALID_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: prod
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: a}
      weight: 75
    - destination: {host: b}
      weight: -15
`;

describe('flotilla validate', () => {
  let dir: string;
  let out: string;
  let err: string;
  const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-validate-'));
    out = '';
    err = '';
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content: string | Buffer): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  it('exits 0 and prints the JSON shape for valid input', () => {
    const f = file('ok.yaml', VALID_VS);
    expect(runValidate([f], 'json', io)).toBe(0);
    expect(JSON.parse(out)).toEqual({
      resources: [
        {
          file: f,
          index: 0,
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          name: 'reviews',
          namespace: 'default',
          valid: true,
          errors: [],
          warnings: [],
        },
      ],
    });
  });

  it('exits 1 and reports the field path for invalid input', () => {
    const f = file('bad.yaml', INVALID_VS);
    expect(runValidate([f], 'json', io)).toBe(1);
    const r = JSON.parse(out).resources[0];
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual([{ path: 'spec.http[0].route[1].weight', message: 'weight -15 < 0' }]);
  });

  it('prints one text line per problem with file, line and column', () => {
    const f = file('bad.yaml', INVALID_VS);
    runValidate([f], 'text', io);
    expect(out).toContain(
      `${f}:13:7 VirtualService prod/reviews: spec.http[0].route[1].weight: weight -15 < 0`,
    );
  });

  it('walks directories recursively for .yaml, .yml and .json files only', () => {
    mkdirSync(join(dir, 'sub'));
    file('sub/a.yml', VALID_VS);
    file('b.json', JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }));
    file('notes.txt', 'not config');
    expect(runValidate([dir], 'json', io)).toBe(0);
    expect(JSON.parse(out).resources.map((r: { kind: string }) => r.kind)).toEqual([
      'Service',
      'VirtualService',
    ]);
  });

  it('reports malformed YAML with the document index and exits 1', () => {
    const f = file('broken.yaml', `${VALID_VS}---\nkind: [\n`);
    expect(runValidate([f], 'json', io)).toBe(1);
    const bad = JSON.parse(out).resources.find((r: { valid: boolean }) => !r.valid);
    expect(bad).toMatchObject({ file: f, index: 1, valid: false });
    expect(bad.errors[0].message).toMatch(/invalid YAML/);
  });

  it('rejects files that are not UTF-8', () => {
    const f = file('latin1.yaml', Buffer.from([0x6b, 0x3a, 0x20, 0xe9, 0xff, 0x0a]));
    expect(runValidate([f], 'json', io)).toBe(1);
    expect(JSON.parse(out).resources[0].errors[0].message).toContain('not valid UTF-8');
  });

  it('rejects unknown Istio kinds', () => {
    const f = file(
      'unknown.yaml',
      'apiVersion: networking.istio.io/v1\nkind: Bogus\nmetadata: {name: x}\nspec: {}\n',
    );
    expect(runValidate([f], 'json', io)).toBe(1);
    expect(JSON.parse(out).resources[0].errors[0].message).toContain('no matches for kind "Bogus"');
  });

  it('exits 2 naming a missing file', () => {
    expect(runValidate([join(dir, 'missing.yaml')], 'json', io)).toBe(2);
    expect(err).toContain('missing.yaml: no such file or directory');
    expect(out).toBe('');
  });
});

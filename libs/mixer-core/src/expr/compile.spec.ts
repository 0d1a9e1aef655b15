import type { Value } from '@flotilla/mixer-adapter-sdk';
import { ReferenceTracker } from '../attributes/bag';
import { AttributeManifest } from '../attributes/manifest';
import { EvalError, compileExpression, globMatch } from './compile';
import { ExpressionError } from './parser';

const manifest = AttributeManifest.standard();
const bag = (entries: Record<string, Value>) => new Map(Object.entries(entries));
const run = (src: string, attrs: Record<string, Value> = {}) =>
  compileExpression(src, manifest).evaluate({ bag: bag(attrs) });

describe('CEXL expressions', () => {
  it('compares strings, numbers and map entries', () => {
    const headers = { 'x-user': 'banned' };
    expect(run('request.headers["x-user"] == "banned"', { 'request.headers': headers })).toBe(true);
    expect(run('request.headers["x-user"] != "banned"', { 'request.headers': headers })).toBe(false);
    expect(
      run('response.code == 200 && request.size >= 100', { 'response.code': 200, 'request.size': 150 }),
    ).toBe(true);
    expect(run('response.code < 500 || request.size <= 1', { 'response.code': 503, 'request.size': 0 })).toBe(
      true,
    );
    expect(run('request.host + request.path', { 'request.host': 'a', 'request.path': '/b' })).toBe('a/b');
    expect(run('!(response.code == 200)', { 'response.code': 404 })).toBe(true);
  });

  it('falls back with | only when the left side is absent', () => {
    const src = 'source.labels["app"] | source.labels["svc"] | "unknown"';
    expect(run(src, { 'source.labels': { app: 'reviews' } })).toBe('reviews');
    expect(run(src, { 'source.labels': { svc: 'ratings' } })).toBe('ratings');
    expect(run(src, {})).toBe('unknown');
    expect(run('request.size | 0', { 'request.size': 7 })).toBe(7);
    expect(run('source.labels["app"] | "x"', { 'source.labels': { app: '' } })).toBe('');
  });

  it('parses a | b == c as (a | b) == c, as Go precedence does', () => {
    expect(run('request.method | "GET" == "GET"', {})).toBe(true);
  });

  it('implements match(), startsWith(), endsWith(), matches(), ip(), timestamp(), emptyStringMap(), conditional(), toLower()', () => {
    const a = { 'destination.service.host': 'ratings.ns1.svc.cluster.local', 'request.path': '/api/v1/x' };
    expect(run('match(destination.service.host, "*.ns1.svc.cluster.local")', a)).toBe(true);
    expect(run('match(destination.service.host, "ratings.*")', a)).toBe(true);
    expect(run('match(destination.service.host, "reviews.*")', a)).toBe(false);
    expect(run('request.path.startsWith("/api")', a)).toBe(true);
    expect(run('request.path.endsWith("/x")', a)).toBe(true);
    expect(run('"^/api/v[0-9]+/".matches(request.path)', a)).toBe(true);
    expect(run('source.ip == ip("10.1.2.3")', { 'source.ip': Uint8Array.from([10, 1, 2, 3]) })).toBe(true);
    expect(
      run('destination.ip == ip("::1")', { 'destination.ip': Uint8Array.from([...Array(15).fill(0), 1]) }),
    ).toBe(true);
    expect(
      run('request.time < timestamp("2020-01-01T00:00:00Z")', {
        'request.time': new Date('2019-12-31T23:59:59Z'),
      }),
    ).toBe(true);
    expect(run('request.headers | emptyStringMap()', {})).toEqual({});
    expect(run('conditional(response.code >= 500, "error", "ok")', { 'response.code': 503 })).toBe('error');
    expect(run('toLower(request.method) == "get"', { 'request.method': 'GET' })).toBe(true);
    expect(globMatch('abc', 'abc')).toBe(true);
    expect(globMatch('abcd', 'abc')).toBe(false);
  });

  it('rejects bad expressions at config time with the position of the problem', () => {
    const bad: [string, number, RegExp][] = [
      ['request.headers["x-user"] == ', 29, /unexpected end of expression/],
      ['requst.size == 1', 0, /unknown attribute requst.size/],
      ['request.size == "big"', 13, /cannot compare INT64 with STRING/],
      ['request.size["x"]', 12, /INT64, not a STRING_MAP/],
      ['nosuch(request.path)', 0, /unknown function nosuch/],
      ['ip("10.1.2")', 3, /not an IP address/],
      ['timestamp("yesterday")', 10, /not an RFC 3339 timestamp/],
      ['request.path | 1', 13, /same type/],
      ['"(".matches(request.path)', 0, /invalid regular expression/],
      ['request.path $ 1', 13, /unexpected character/],
      ['"unterminated', 0, /unterminated string/],
      ['match(request.path)', 0, /takes 2 argument/],
    ];
    for (const [src, pos, reason] of bad) {
      let caught: unknown;
      try {
        compileExpression(src, manifest);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ExpressionError);
      expect({ src, pos: (caught as ExpressionError).position }).toEqual({ src, pos });
      expect((caught as ExpressionError).message).toMatch(reason);
    }
  });

  it('requires the type the field needs (a match must be BOOL)', () => {
    expect(() => compileExpression('request.path', manifest, 'BOOL')).toThrow(
      /has type STRING but BOOL is required/,
    );
  });

  it('fails evaluation (EvalError) on an absent attribute without a default, and on a value of the wrong runtime type', () => {
    expect(() => run('request.size == 1')).toThrow(EvalError);
    expect(() => run('request.size == 1', { 'request.size': 'one' })).toThrow(/does not hold a INT64/);
  });

  it('records referenced attributes and map keys, present or absent', () => {
    const refs = new ReferenceTracker();
    const e = compileExpression(
      '(request.headers["x-user"] | "") == "banned" || source.principal == "admin"',
      manifest,
    );
    e.evaluate({ bag: bag({ 'request.headers': { 'x-other': '1' }, 'source.principal': 'admin' }), refs });
    expect(refs.mapKeys.get('request.headers')).toEqual(new Map([['x-user', 'ABSENCE']]));
    expect(refs.attributes.get('source.principal')).toBe('EXACT');
    expect(refs.attributes.has('request.headers')).toBe(false); // only the key was looked at
  });

  it('refuses pathological nesting instead of overflowing the stack', () => {
    expect(() => compileExpression('('.repeat(5000) + '1' + ')'.repeat(5000), manifest)).toThrow(
      /nests too deeply/,
    );
    expect(() => compileExpression('!'.repeat(5000) + 'true', manifest)).toThrow(/nests too deeply/);
  });
});

import type { Value } from '@flotilla/mixer-adapter-sdk';
import { ReferenceTracker } from '../attributes/bag';
import { AttributeManifest } from '../attributes/manifest';
import { EvalError, compileExpression, globMatch } from './compile';
import type { TypeEnv } from './compile';
import { ExpressionError } from './parser';

const manifest = AttributeManifest.standard();
const bag = (entries: Record<string, Value>) => new Map(Object.entries(entries));
const run = (src: string, attrs: Record<string, Value> = {}) =>
  compileExpression(src, manifest).evaluate({ bag: bag(attrs) });
const cel = (src: string) => compileExpression(src, manifest).cel;
/** What evaluating `src` recorded as referenced: attribute → condition, and "map[key]" → condition. */
const refsOf = (src: string, attrs: Record<string, Value>) => {
  const refs = new ReferenceTracker();
  try {
    compileExpression(src, manifest).evaluate({ bag: bag(attrs), refs });
  } catch (err) {
    if (!(err instanceof EvalError)) throw err;
  }
  const out: Record<string, string> = Object.fromEntries(refs.attributes);
  for (const [name, keys] of refs.mapKeys) for (const [k, c] of keys) out[`${name}[${k}]`] = c;
  return out;
};
const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('no error');
};

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

  it('treats a manifest name that CEL would read as a keyword, or with underscores, as an attribute', () => {
    const names = ['in', 'constructor', 'a_b.c', 'a.b_c', 'x-forwarded.for'];
    const m = AttributeManifest.standard().add(new Map(names.map((n) => [n, { valueType: 'STRING' }])));
    const attrs = bag({ in: 'i', constructor: 'c', 'a_b.c': '1', 'a.b_c': '2' });
    expect(compileExpression('in + constructor + a_b.c + a.b_c', m).evaluate({ bag: attrs })).toBe('ic12');
  });

  it('sees attributes added to a manifest after it was first used', () => {
    const m = AttributeManifest.standard();
    compileExpression('request.size', m);
    m.add({ 'my.attribute': { valueType: 'DOUBLE' } });
    expect(compileExpression('my.attribute + 1', m).evaluate({ bag: bag({ 'my.attribute': 0.5 }) })).toBe(
      1.5,
    );
  });
});

describe('CEXL compiled to CEL', () => {
  it('translates attributes, map keys, | defaults and && / || to CEL', () => {
    expect(cel('request.size | 0')).toBe('has(attributes.request__size) ? attributes.request__size : 0');
    expect(cel('request.headers["x-user"] == "banned"')).toBe(
      'attributes.mapEntry("request.headers", "x-user") == "banned"',
    );
    expect(cel('request.headers["x-user"] | source.labels["app"] | "unknown"')).toBe(
      'attributes.hasMapEntry("request.headers", "x-user") ? attributes.mapEntry("request.headers", "x-user") : ' +
        '(attributes.hasMapEntry("source.labels", "app") ? attributes.mapEntry("source.labels", "app") : "unknown")',
    );
    expect(cel('request.headers[request.path] | "none"')).toBe(
      '(has(attributes.request__headers) ? (attributes.request__path in attributes.request__headers) : false) ' +
        '? attributes.request__headers[attributes.request__path] : "none"',
    );
    expect(cel('context.protocol == "http" || context.protocol == "grpc"')).toBe(
      '(attributes.context__protocol == "http") ? true : (attributes.context__protocol == "grpc")',
    );
    expect(cel('!(response.code < 500) && request.size + 0.5 > 1')).toBe(
      '(!(attributes.response__code < 500)) ? ((double(attributes.request__size) + 0.5) > 1.0) : false',
    );
  });

  it('translates functions to CEL built-ins where they mean the same, and to registered functions otherwise', () => {
    expect(cel('request.path.startsWith("/api") && request.path.endsWith("/x")')).toBe(
      'attributes.request__path.startsWith("/api") ? attributes.request__path.endsWith("/x") : false',
    );
    expect(cel('"^/api/v[0-9]+/".matches(request.path)')).toBe(
      'attributes.request__path.matches("^/api/v[0-9]+/")',
    );
    expect(cel('conditional(response.code >= 500, "error", "ok")')).toBe(
      '(attributes.response__code >= 500) ? "error" : "ok"',
    );
    expect(cel('request.headers | emptyStringMap()')).toBe(
      'has(attributes.request__headers) ? attributes.request__headers : {}',
    );
    expect(cel('source.ip == ip("10.1.2.3")')).toBe('attributes.source__ip == b"\\x0a\\x01\\x02\\x03"');
    expect(cel('ip(request.host)')).toBe('ip(attributes.request__host)');
    expect(cel('request.time < timestamp("2020-01-01T00:00:00Z")')).toBe(
      'attributes.request__time < rfc3339Timestamp("2020-01-01T00:00:00Z")',
    );
    expect(cel('match(request.host, "*.local") && toLower(request.method) == "get"')).toBe(
      'match(attributes.request__host, "*.local") ? (toLower(attributes.request__method) == "get") : false',
    );
    expect(cel('email(source.principal) + dnsName(request.host) + uri(request.scheme)')).toBe(
      '(email(attributes.source__principal) + dnsName(attributes.request__host)) + uri(attributes.request__scheme)',
    );
    // Constant arguments are evaluated (and checked) once, at compile time.
    expect(cel('toLower("GET") + email("a@b.c")')).toBe('"get" + "a@b.c"');
    expect(cel('match("ratings.ns", "*.ns")')).toBe('true');
  });

  it('writes string literals CEL reads back exactly', () => {
    // Mixer's escapes, as the parser reads them; the CEL literal must carry the same characters.
    const src = String.raw`"quote \" backslash \\ newline \n tab \t nul \x00 del \x7f é 😀 \ud800"`;
    expect(cel(src)).toBe(
      String.raw`"quote \" backslash \\ newline \x0a tab \x09 nul \x00 del \x7f é 😀 ` + '\ud800"',
    );
    expect(run(src)).toBe('quote " backslash \\ newline \n tab \t nul \x00 del \x7f é 😀 \ud800');
    expect(run('`raw \\d+`')).toBe('raw \\d+');
  });

  it('falls back with | exactly when an attribute or a map key is absent, not when it is empty or zero', () => {
    expect(run('request.size | 7', { 'request.size': 0 })).toBe(0);
    expect(run('request.size | 7', {})).toBe(7);
    expect(run('request.headers["x"] | "d"', { 'request.headers': { x: '' } })).toBe('');
    expect(run('request.headers["x"] | "d"', { 'request.headers': { y: '1' } })).toBe('d');
    expect(run('request.headers["x"] | "d"', {})).toBe('d');
    expect(
      run('request.headers[request.path] | "d"', { 'request.headers': { '/a': 'A' }, 'request.path': '/a' }),
    ).toBe('A');
    expect(
      run('request.headers[request.path] | "d"', { 'request.headers': { '/a': 'A' }, 'request.path': '/b' }),
    ).toBe('d');
    expect(run('(request.method | request.scheme) | "x"', { 'request.scheme': 'https' })).toBe('https');
    // The default is not a catch-all: a failure other than absence on the left is still a failure.
    expect(() => run('request.headers[request.path] | "d"', { 'request.headers': {} })).toThrow(
      /attribute request.path is absent/,
    );
  });

  it('keeps && and || strict and left to right (CEL alone would make error || true true)', () => {
    expect(() => run('request.size == 1 || true')).toThrow(EvalError);
    expect(() => run('request.size == 1 && false')).toThrow(EvalError);
    expect(run('request.size == 1 || request.path == "/"', { 'request.size': 1 })).toBe(true);
    expect(run('request.size == 1 && request.path == "/"', { 'request.size': 2 })).toBe(false);
  });

  it('converts int, double, timestamp, duration, IP and map values at the boundary', () => {
    const r = (src: string, attrs: Record<string, Value>) => run(src, attrs);
    expect(r('request.size + 1', { 'request.size': 41 })).toBe(42);
    expect(r('request.size + 0.5', { 'request.size': 41 })).toBe(41.5);
    expect(r('request.size == 41.0', { 'request.size': 41 })).toBe(true);
    expect(r('-request.size', { 'request.size': 41 })).toBe(-41);
    expect(compileExpression('request.size | 1.5', manifest).type).toBe('DOUBLE');
    expect(r('request.size | 1.5', { 'request.size': 2 })).toBe(2);
    expect(r('request.size | 1.5', {})).toBe(1.5);
    expect(() => r('request.size + 1', { 'request.size': 2 ** 63 })).toThrow(/overflow/);
    const d = { seconds: 1, nanos: 500 };
    expect(r('response.duration', { 'response.duration': d })).toEqual(d);
    expect(r('response.duration | connection.duration', { 'connection.duration': d })).toEqual(d);
    expect(
      r('response.duration < connection.duration', {
        'response.duration': { seconds: 1, nanos: 499 },
        'connection.duration': d,
      }),
    ).toBe(true);
    expect(
      r('response.duration == connection.duration', {
        'response.duration': { seconds: 1, nanos: 500 },
        'connection.duration': d,
      }),
    ).toBe(true);
    const t = new Date('2020-01-01T00:00:00.123Z');
    expect(r('request.time', { 'request.time': t })).toEqual(t);
    expect(r('request.time | timestamp("2020-01-01T00:00:00.123Z")', {})).toEqual(t);
    expect(
      r('request.time == response.time', { 'request.time': t, 'response.time': new Date(t.getTime()) }),
    ).toBe(true);
    expect(r('source.ip | ip("::1")', {})).toEqual(Uint8Array.from([...Array(15).fill(0), 1]));
    expect(
      r('source.ip == ip(request.host)', {
        'source.ip': Uint8Array.from([10, 0, 0, 1]),
        'request.host': '10.0.0.1',
      }),
    ).toBe(true);
    const labels = Object.assign(Object.create(null), { app: 'reviews' });
    expect(r('source.labels | emptyStringMap()', { 'source.labels': labels })).toBe(labels);
    expect(
      r('source.labels == destination.labels', {
        'source.labels': labels,
        'destination.labels': { app: 'reviews' },
      }),
    ).toBe(true);
    expect(r('request.headers == emptyStringMap()', { 'request.headers': {} })).toBe(true);
  });

  it('runs every function on request values, failing (EvalError) on a value it refuses', () => {
    const a = {
      'request.host': 'ratings.ns1.svc.cluster.local',
      'request.method': 'GET',
      'request.path': '/api/v1/x',
      'source.principal': 'alice@example.com',
      'request.scheme': 'https://example.com/x',
      'request.headers': { pattern: '^/api', date: '2020-01-01T00:00:00Z' },
    };
    expect(run('match(request.host, "*.svc.cluster.local")', a)).toBe(true);
    expect(run('match(request.path, request.headers["pattern"])', a)).toBe(false);
    expect(run('request.headers["pattern"].matches(request.path)', a)).toBe(true);
    expect(run('request.path.startsWith(request.headers["pattern"])', a)).toBe(false);
    expect(run('toLower(request.method)', a)).toBe('get');
    expect(run('email(source.principal)', a)).toBe('alice@example.com');
    expect(run('dnsName(request.host)', a)).toBe('ratings.ns1.svc.cluster.local');
    expect(run('uri(request.scheme)', a)).toBe('https://example.com/x');
    expect(run('timestamp(request.headers["date"])', a)).toEqual(new Date('2020-01-01T00:00:00Z'));
    expect(run('conditional(request.method == "GET", request.path, "-")', a)).toBe('/api/v1/x');
    expect(run('emptyStringMap()')).toEqual({});
    for (const [src, message] of [
      ['ip(request.path)', /ip\("\/api\/v1\/x"\): not an IP address/],
      ['timestamp(request.path)', /not an RFC 3339 timestamp/],
      ['email(request.path)', /not an e-mail address/],
      ['dnsName(request.path)', /not a DNS name/],
      ['uri(request.method)', /not a URI/],
      ['request.headers["date"].matches(request.path)', /regular expression/],
    ] as const) {
      const err = errorOf(() => run(src, { ...a, 'request.headers': { date: '(' } }));
      expect({ src, err }).toEqual({ src, err: expect.any(EvalError) });
      expect(err.message).toMatch(message);
    }
  });

  it('evaluates only the chosen branch of conditional(), and is absent when that branch is', () => {
    const e = compileExpression('conditional(request.size > 1, request.path, "small")', manifest);
    expect(e.evaluateOptional({ bag: bag({ 'request.size': 2 }) })).toBeUndefined();
    expect(e.evaluateOptional({ bag: bag({ 'request.size': 1 }) })).toBe('small');
    expect(() => e.evaluate({ bag: bag({ 'request.size': 2 }) })).toThrow(EvalError);
    expect(run('conditional(request.size > 1, request.size, 0.5)', { 'request.size': 2 })).toBe(2);
  });

  it('tells absent from present with evaluateOptional, and isTrue says false for anything but true', () => {
    const e = compileExpression('request.headers["x"]', manifest);
    expect(e.evaluateOptional({ bag: bag({}) })).toBeUndefined();
    expect(e.evaluateOptional({ bag: bag({ 'request.headers': { x: 'v' } }) })).toBe('v');
    expect(() => e.evaluate({ bag: bag({}) })).toThrow(/request.headers\["x"\] is absent/);
    const m = compileExpression('request.headers["x-user"] == "banned"', manifest, 'BOOL');
    expect(m.isTrue({ bag: bag({ 'request.headers': { 'x-user': 'banned' } }) })).toBe(true);
    expect(m.isTrue({ bag: bag({ 'request.headers': { 'x-user': 'alice' } }) })).toBe(false);
    expect(m.isTrue({ bag: bag({}) })).toBe(false);
    expect(
      compileExpression('request.size + 1 > 0', manifest).isTrue({ bag: bag({ 'request.size': 2 ** 63 }) }),
    ).toBe(false);
  });

  it('records exactly the attributes and map keys a decision read, with absence', () => {
    expect(
      refsOf('request.headers["x-user"] == "banned"', { 'request.headers': { 'x-user': 'bob' } }),
    ).toEqual({
      'request.headers[x-user]': 'EXACT',
    });
    expect(refsOf('request.headers["x-user"] == "banned"', { 'request.headers': {} })).toEqual({
      'request.headers[x-user]': 'ABSENCE',
    });
    expect(refsOf('request.headers["x-user"] == "banned"', {})).toEqual({ 'request.headers': 'ABSENCE' });
    // The first present alternative ends the chain: what comes after it is not looked at.
    expect(
      refsOf('source.labels["app"] | request.method | "x"', { 'source.labels': {}, 'request.method': 'GET' }),
    ).toEqual({
      'source.labels[app]': 'ABSENCE',
      'request.method': 'EXACT',
    });
    // A key that is not a constant makes the decision depend on the whole map.
    expect(
      refsOf('request.headers[request.path] | ""', { 'request.headers': {}, 'request.path': '/' }),
    ).toEqual({
      'request.headers': 'EXACT',
      'request.path': 'EXACT',
    });
    // && stops at false, as Mixer's does; the right side is not read.
    expect(
      refsOf('request.method == "POST" && request.size > 10', { 'request.method': 'GET', 'request.size': 1 }),
    ).toEqual({
      'request.method': 'EXACT',
    });
    expect(refsOf('request.size == 1 || request.method == "GET"', {})).toEqual({ 'request.size': 'ABSENCE' });
  });

  it('shares one attribute view per evaluation context, and never one of another context', () => {
    const a = compileExpression('request.method', manifest);
    const b = compileExpression('request.path', manifest);
    const ctx = { bag: bag({ 'request.method': 'GET', 'request.path': '/' }) };
    expect([a.evaluate(ctx), b.evaluate(ctx)]).toEqual(['GET', '/']);
    const copy = { ...ctx, bag: bag({ 'request.method': 'PUT' }) };
    expect(a.evaluate(copy)).toBe('PUT');
    expect(a.evaluate(Object.freeze({ bag: bag({ 'request.method': 'HEAD' }) }))).toBe('HEAD');
    const other = compileExpression('request.method', AttributeManifest.standard());
    expect(other.evaluate(ctx)).toBe('GET');
  });

  it('rejects function misuse with the position of the problem', () => {
    const bad: [string, number, RegExp][] = [
      ['toString(request.path)', 0, /unknown function toString/],
      ['request.path.startsWith(1)', 24, /argument 2 must be STRING, not INT64/],
      ['conditional(true, 1, "a")', 21, /same type, not INT64 and STRING/],
      ['startsWith(request.path, "/")', 0, /is a method/],
      ['request.path.match("*")', 13, /is a function/],
      ['email("nobody")', 6, /"nobody" is not an e-mail address/],
      ['dnsName("-x-")', 8, /not a DNS name/],
      ['uri("no scheme")', 4, /not a URI/],
      ['request.headers[1]', 16, /map key must be a STRING/],
      ['!request.size', 0, /! needs a BOOL/],
      ['-request.path', 0, /unary - needs a number/],
      ['request.path - "x"', 13, /- needs numbers, not STRING and STRING/],
      ['request.time < request.size', 13, /cannot order TIMESTAMP and INT64/],
      ['request.size && true', 13, /&& needs BOOL operands/],
    ];
    for (const [src, pos, reason] of bad) {
      const err = errorOf(() => compileExpression(src, manifest));
      expect({ src, err }).toEqual({ src, err: expect.any(ExpressionError) });
      expect({ src, pos: (err as ExpressionError).position, message: err.message }).toEqual({
        src,
        pos,
        message: expect.stringMatching(reason),
      });
    }
  });

  it('refuses, as a config error, an expression too long for cel-js to parse', () => {
    expect(compileExpression(Array(400).fill('request.size == 1').join(' && '), manifest).type).toBe('BOOL');
    const err = errorOf(() => compileExpression(Array(600).fill('request.size == 1').join(' && '), manifest));
    expect(err).toBeInstanceOf(ExpressionError);
    expect(err.message).toMatch(/expression is too long: it nests 602 levels deep in CEL, and at most 500/);
  });

  it('parenthesises a compound receiver of a method', () => {
    expect(cel('(request.path + "/x").endsWith("/x")')).toBe(
      '(attributes.request__path + "/x").endsWith("/x")',
    );
    expect(run('(request.path + "/x").endsWith("/x")', { 'request.path': '/a' })).toBe(true);
  });

  it('reports a translation CEL does not accept as a config error naming the expression, not at requests', () => {
    // A type environment that knows request.size but does not list it: the CEL environment has no such field.
    const inconsistent: TypeEnv = { typeOf: (name) => manifest.typeOf(name), entries: () => [] };
    const err = errorOf(() => compileExpression('request.size == 1', inconsistent));
    expect(err).toBeInstanceOf(ExpressionError);
    expect(err.message).toMatch(/internal error: the expression's CEL translation .* does not type-check/);
  });
});

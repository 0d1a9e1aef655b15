import { mixerCheck, mixerReport } from '@flotilla/proto';
import type { mixerAttributes } from '@flotilla/proto';
import { attributesOf, encodeAttributes } from './attributes';
import type { MixerTransport } from './client';
import { MixerClient } from './client';

/** Decodes the message-word-only encoding the client sends (strings and string maps are all these tests use). */
function decode(ca: mixerAttributes.CompressedAttributes): Map<string, string | Record<string, string>> {
  const word = (i: number) => {
    expect(i).toBeLessThan(0);
    return ca.words[-i - 1];
  };
  const out = new Map<string, string | Record<string, string>>();
  for (const [k, v] of Object.entries(ca.strings)) out.set(word(Number(k)), word(v));
  for (const [k, v] of Object.entries(ca.stringMaps)) {
    const m: Record<string, string> = {};
    for (const [mk, mv] of Object.entries(v.entries)) m[word(Number(mk))] = word(mv);
    out.set(word(Number(k)), m);
  }
  return out;
}

type Match = { name: string; key?: string; condition: 'EXACT' | 'ABSENCE' };

/**
 * A fake mixer: denies x-user "banned", references request.headers["x-user"] (EXACT when present, ABSENCE when
 * not) and source.principal (likewise), grants quota from a fixed budget, and counts calls.
 */
class FakeMixer implements MixerTransport {
  checks: mixerCheck.CheckRequest[] = [];
  reports: mixerReport.ReportRequest[] = [];
  validDuration: { seconds: number; nanos: number } | undefined = { seconds: 10, nanos: 0 };
  validUseCount = 1000;
  quotaBudget = Number.POSITIVE_INFINITY;

  async check(request: mixerCheck.CheckRequest): Promise<mixerCheck.CheckResponse> {
    this.checks.push(request);
    const attrs = decode(request.attributes!);
    const headers = attrs.get('request.headers') as Record<string, string> | undefined;
    const user = headers?.['x-user'];
    const matches: Match[] = [
      headers === undefined
        ? { name: 'request.headers', condition: 'ABSENCE' }
        : { name: 'request.headers', key: 'x-user', condition: user === undefined ? 'ABSENCE' : 'EXACT' },
      { name: 'source.principal', condition: attrs.has('source.principal') ? 'EXACT' : 'ABSENCE' },
    ];
    const words: string[] = [];
    const w = (s: string) => {
      let i = words.indexOf(s);
      if (i < 0) i = words.push(s) - 1;
      return -i - 1;
    };
    const referencedAttributes = mixerCheck.ReferencedAttributes.fromPartial({
      attributeMatches: matches.map((m) => ({
        name: w(m.name),
        mapKey: m.key === undefined ? 0 : w(m.key),
        condition:
          m.condition === 'EXACT'
            ? mixerCheck.ReferencedAttributes_Condition.EXACT
            : mixerCheck.ReferencedAttributes_Condition.ABSENCE,
      })),
      words,
    });
    const quotas: Record<string, mixerCheck.CheckResponse_QuotaResult> = {};
    for (const [name, params] of Object.entries(request.quotas)) {
      const granted = Math.min(params.amount, this.quotaBudget);
      this.quotaBudget -= granted;
      quotas[name] = mixerCheck.CheckResponse_QuotaResult.fromPartial({
        grantedAmount: granted,
        validDuration: { seconds: 60 },
      });
    }
    return mixerCheck.CheckResponse.fromPartial({
      precondition: {
        status: user === 'banned' ? { code: 7, message: 'user is banned' } : { code: 0 },
        validDuration: this.validDuration,
        validUseCount: this.validUseCount,
        referencedAttributes,
      },
      quotas,
    });
  }

  async report(request: mixerReport.ReportRequest): Promise<mixerReport.ReportResponse> {
    this.reports.push(request);
    return mixerReport.ReportResponse.fromPartial({});
  }
}

const req = (user: string | undefined, path = '/productpage', extra: Record<string, string> = {}) =>
  attributesOf({
    'request.path': path,
    'request.headers': user === undefined ? { host: 'productpage' } : { host: 'productpage', 'x-user': user },
    ...extra,
  });

describe('check cache', () => {
  let mixer: FakeMixer;
  let now: number;
  let client: MixerClient;
  beforeEach(() => {
    mixer = new FakeMixer();
    now = 1_000_000;
    client = new MixerClient(mixer, { now: () => now });
  });

  it('answers a repeated identical request from the cache', async () => {
    expect(await client.check(req('alice'))).toMatchObject({ code: 0, cached: false });
    expect(await client.check(req('alice'))).toMatchObject({ code: 0, cached: true });
    expect(mixer.checks).toHaveLength(1);
  });

  it('hits when only unreferenced attributes differ, misses when a referenced one differs', async () => {
    await client.check(req('alice', '/a'));
    expect((await client.check(req('alice', '/b', { 'request.method': 'POST' }))).cached).toBe(true);
    expect(mixer.checks).toHaveLength(1);
    expect(await client.check(req('banned'))).toMatchObject({
      code: 7,
      message: 'user is banned',
      cached: false,
    });
    expect(await client.check(req('banned'))).toMatchObject({ code: 7, cached: true });
    expect(mixer.checks).toHaveLength(2);
  });

  it('matches absence of a map key and of an attribute, and misses once they are present', async () => {
    await client.check(req(undefined, '/a'));
    expect((await client.check(req(undefined, '/b'))).cached).toBe(true);
    // the absent key appears: the ABSENCE reference no longer fits
    expect((await client.check(req('alice', '/a'))).cached).toBe(false);
    // the absent attribute appears
    expect(
      (await client.check(req(undefined, '/a', { 'source.principal': 'spiffe://x/ns/default/sa/a' }))).cached,
    ).toBe(false);
    expect(mixer.checks).toHaveLength(3);
    // no headers at all: x-user is still absent, so the key-absence entry fits
    expect((await client.check(attributesOf({ 'request.path': '/z' }))).cached).toBe(true);
    expect(mixer.checks).toHaveLength(3);
  });

  it('expires an entry after valid_duration', async () => {
    mixer.validDuration = { seconds: 1, nanos: 500_000_000 };
    await client.check(req('alice'));
    now += 1500;
    expect((await client.check(req('alice'))).cached).toBe(true);
    now += 1;
    expect((await client.check(req('alice'))).cached).toBe(false);
    expect(mixer.checks).toHaveLength(2);
  });

  it('serves an entry valid_use_count times, and never caches a count of 0', async () => {
    mixer.validUseCount = 2;
    const cached = [];
    for (let i = 0; i < 4; i++) cached.push((await client.check(req('alice'))).cached);
    expect(cached).toEqual([false, true, true, false]);
    mixer.validUseCount = 0;
    client = new MixerClient(mixer, { now: () => now });
    mixer.checks = [];
    await client.check(req('alice'));
    await client.check(req('alice'));
    expect(mixer.checks).toHaveLength(2);
  });

  it('keeps no time limit when valid_duration is missing', async () => {
    mixer.validDuration = undefined;
    await client.check(req('alice'));
    now += 365 * 24 * 3600_000;
    expect((await client.check(req('alice'))).cached).toBe(true);
  });
});

describe('quota prefetch', () => {
  it('serves 100 requests with a handful of calls', async () => {
    const mixer = new FakeMixer();
    const client = new MixerClient(mixer, { quota: { minPrefetchAmount: 10 } });
    for (let i = 0; i < 100; i++)
      expect(
        (await client.check(req('alice'), [{ name: 'requestcount', dimensions: { dst: 'reviews' } }])).code,
      ).toBe(0);
    const quotaCalls = mixer.checks.filter((c) => Object.keys(c.quotas).length > 0);
    expect(quotaCalls.length).toBeLessThanOrEqual(12);
    expect(quotaCalls[0].quotas.requestcount).toMatchObject({ amount: 10, bestEffort: true });
  });

  it('admits exactly the granted amount and then refuses without asking again inside the close-wait window', async () => {
    const mixer = new FakeMixer();
    mixer.quotaBudget = 25;
    const client = new MixerClient(mixer, { quota: { minPrefetchAmount: 10, closeWaitWindowMs: 60_000 } });
    let admitted = 0;
    for (let i = 0; i < 100; i++)
      if ((await client.check(req('alice'), [{ name: 'requestcount' }])).code === 0) admitted++;
    expect(admitted).toBe(25);
    expect(mixer.checks.filter((c) => Object.keys(c.quotas).length > 0).length).toBeLessThanOrEqual(6);
  });

  it('keeps one pool per quota name and dimensions', async () => {
    const mixer = new FakeMixer();
    const client = new MixerClient(mixer);
    await client.check(req('alice'), [{ name: 'q', dimensions: { dst: 'a' } }]);
    await client.check(req('alice'), [{ name: 'q', dimensions: { dst: 'b' } }]);
    await client.check(req('alice'), [{ name: 'q', dimensions: { dst: 'a' } }]);
    expect(mixer.checks.filter((c) => Object.keys(c.quotas).length > 0)).toHaveLength(2);
  });
});

describe('report batching', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('sends a Report at 100 entries, and the rest after 1 s', async () => {
    const mixer = new FakeMixer();
    const client = new MixerClient(mixer);
    for (let i = 0; i < 250; i++) client.report(attributesOf({ 'request.path': `/p${i}` }));
    expect(mixer.reports.map((r) => r.attributes.length)).toEqual([100, 100]);
    jest.advanceTimersByTime(999);
    expect(mixer.reports).toHaveLength(2);
    jest.advanceTimersByTime(1);
    expect(mixer.reports.map((r) => r.attributes.length)).toEqual([100, 100, 50]);
    const last = mixer.reports[2];
    expect(last.repeatedAttributesSemantics).toBe(
      mixerReport.ReportRequest_RepeatedAttributesSemantics.INDEPENDENT_ENCODING,
    );
    expect(decode(last.attributes[0]).get('request.path')).toBe('/p200');
  });

  it('flushes what is waiting on close()', async () => {
    const mixer = new FakeMixer();
    const client = new MixerClient(mixer);
    client.report(attributesOf({ 'request.path': '/a' }));
    client.report(attributesOf({ 'request.path': '/b' }));
    await client.close();
    expect(mixer.reports.map((r) => r.attributes.length)).toEqual([2]);
    expect(() => client.report(attributesOf({ 'request.path': '/c' }))).toThrow(/closed/);
  });
});

describe('encodeAttributes', () => {
  it('puts every word in the message and types values by slot', () => {
    const ca = encodeAttributes(
      attributesOf({
        'request.path': '/a',
        'response.code': 200,
        'request.size': 1.5,
        'connection.mtls': true,
        'request.headers': { host: '/a' },
      }),
    );
    expect(ca.words).toEqual([
      'request.path',
      '/a',
      'response.code',
      'request.size',
      'connection.mtls',
      'request.headers',
      'host',
    ]);
    expect(ca.strings).toEqual({ [-1]: -2 });
    expect(ca.int64s).toEqual({ [-3]: 200 });
    expect(ca.doubles).toEqual({ [-4]: 1.5 });
    expect(ca.bools).toEqual({ [-5]: true });
    expect(ca.stringMaps).toEqual({ [-6]: { entries: { [-7]: -2 } } });
  });
});

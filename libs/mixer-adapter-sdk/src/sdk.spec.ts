import { defineAdapter } from './adapter';
import { AdapterHarness, createRecordingAdapter } from './harness';
import { ParamsError, ParamsReader, parseDurationMs } from './params';
import { bucketKey, effectiveLimit, instanceNameMatches, readQuotaLimits } from './quota-config';
import { checkDenied, checkOk } from './results';
import { Code } from './status';
import { formatIp, parseIp, valueToString } from './values';

describe('values', () => {
  it('parses IPv4, IPv6 (compressed and with an IPv4 tail) and refuses the rest', () => {
    expect(Array.from(parseIp('10.1.2.3')!)).toEqual([10, 1, 2, 3]);
    expect(formatIp(parseIp('2001:db8::1')!)).toBe('2001:db8:0:0:0:0:0:1');
    expect(formatIp(parseIp('::ffff:10.0.0.1')!)).toBe('0:0:0:0:0:ffff:a00:1');
    expect(formatIp(parseIp('::')!)).toBe('0:0:0:0:0:0:0:0');
    for (const bad of ['10.1.2', '256.1.1.1', '1::2::3', '12345::', 'x', '1:2:3:4:5:6:7:8:9'])
      expect({ bad, ip: parseIp(bad) }).toEqual({ bad, ip: undefined });
  });

  it('renders values as label text', () => {
    expect(valueToString({ seconds: 1, nanos: 500_000_000 })).toBe('1.5s');
    expect(valueToString(Uint8Array.from([127, 0, 0, 1]))).toBe('127.0.0.1');
    expect(valueToString(new Date('2020-01-01T00:00:00Z'))).toBe('2020-01-01T00:00:00.000Z');
  });
});

describe('params', () => {
  it("reads Go durations as Istio's YAML writes them", () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('0')).toBe(0);
    expect(parseDurationMs('5')).toBeUndefined();
    expect(parseDurationMs('5 s')).toBeUndefined();
  });

  it('collects every problem, with full paths for nested maps and lists', () => {
    const p = new ParamsReader({ a: 'x', nested: { b: true }, list: [{ c: 1 }, { c: 'no' }] }).only(
      'a',
      'nested',
      'list',
    );
    p.number('a', 0);
    p.nested('nested')!.string('b');
    p.list('list', (item) => item.number('c', 0));
    expect(() => p.done()).toThrow(ParamsError);
    expect(p.problems).toEqual([
      'a: expected a number, got "x"',
      'list[1].c: expected a number, got "no"',
      'nested.b: expected a string, got true',
    ]);
  });
});

describe('quota config', () => {
  const [limit] = readQuotaLimits(
    new ParamsReader({
      quotas: [
        {
          name: 'rq.quota.ns',
          maxAmount: 10,
          validDuration: '1s',
          overrides: [{ dimensions: { user: 'bob' }, maxAmount: 1 }],
        },
      ],
    }),
  );

  it('applies the first override whose dimensions all match', () => {
    expect(effectiveLimit(limit, { user: 'bob', path: '/' })).toEqual({
      maxAmount: 1,
      validDurationMs: 1000,
      override: 0,
    });
    expect(effectiveLimit(limit, { user: 'alice' }).maxAmount).toBe(10);
  });

  it("matches Istio's instance spellings and keys buckets independently of dimension order", () => {
    expect(instanceNameMatches('rq.quota.ns', 'rq.ns')).toBe(true);
    expect(instanceNameMatches('rq', 'rq.ns')).toBe(true);
    expect(instanceNameMatches('rq.quota.other', 'rq.ns')).toBe(false);
    expect(bucketKey('rq.ns', { b: '2', a: '1' })).toBe(bucketKey('rq.ns', { a: '1', b: '2' }));
    expect(bucketKey('rq.ns', { a: 'x&b=y' })).not.toBe(bucketKey('rq.ns', { a: 'x', b: 'y' }));
  });
});

describe('AdapterHarness', () => {
  const adapter = defineAdapter({
    name: 'allowlist',
    description: 'allows listed values',
    templates: ['listentry'],
    validate: (raw) => {
      const p = new ParamsReader(raw).only('values');
      const values = p.stringList('values');
      p.done();
      return { values };
    },
    build: async (params: { values: string[] }) => ({
      handleListEntry: async (i: { value: string }) =>
        params.values.includes(i.value) ? checkOk() : checkDenied('no', Code.NOT_FOUND),
      close: async () => undefined,
    }),
  });

  it('validates params, builds the handler, feeds instances and records calls', async () => {
    const h = await AdapterHarness.start(adapter, { values: ['a'] });
    expect((await h.check('listentry', { value: 'a' })).status.code).toBe(Code.OK);
    expect((await h.check('listentry', { value: 'b' })).status.code).toBe(Code.NOT_FOUND);
    expect(h.calls.map((c) => (c.instances[0] as { value: string }).value)).toEqual(['a', 'b']);
    await expect(AdapterHarness.start(adapter, { value: ['typo'] })).rejects.toThrow(ParamsError);
  });

  it('refuses templates the adapter does not declare', async () => {
    const h = await AdapterHarness.start(adapter, {});
    await expect(h.check('checknothing', {})).rejects.toThrow(
      'adapter allowlist does not declare template checknothing',
    );
  });

  it('offers a recording double for dispatch tests', async () => {
    const rec = createRecordingAdapter();
    const h = await AdapterHarness.start(rec, {});
    await h.report('metric', [
      { value: 1, dimensions: {}, monitoredResourceType: '', monitoredResourceDimensions: {} },
    ]);
    expect((await h.quota({ dimensions: {} }, { amount: 3 })).amount).toBe(3);
    expect(rec.calls.map((c) => c.template)).toEqual(['metric', 'quota']);
  });
});

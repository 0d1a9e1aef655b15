import { mixerCheck } from '@flotilla/proto';
import type { mixerReport } from '@flotilla/proto';
import type { MixerTransport } from './client';
import { MixerClient } from './client';
import type { CallStatus } from './interceptor';
import { withMixer } from './interceptor';

/** Denies every call whose x-user header is "banned"; references nothing (so nothing is cached). */
class Transport implements MixerTransport {
  checks = 0;
  reports: mixerReport.ReportRequest[] = [];
  down = false;
  async check(request: mixerCheck.CheckRequest): Promise<mixerCheck.CheckResponse> {
    this.checks++;
    if (this.down) throw new Error('connect ECONNREFUSED');
    const banned = request.attributes!.words.includes('banned');
    return mixerCheck.CheckResponse.fromPartial({
      precondition: { status: banned ? { code: 7, message: 'user is banned' } : {}, validUseCount: 0 },
    });
  }
  async report(request: mixerReport.ReportRequest): Promise<mixerReport.ReportResponse> {
    this.reports.push(request);
    return {};
  }
}

const call = (user: string) => ({
  getPath: () => '/reviews.Reviews/Get',
  metadata: { getMap: () => ({ 'x-user': user, bin: Buffer.from('x') }) },
});

function invoke(handler: ReturnType<typeof withMixer>, user: string) {
  return new Promise<[CallStatus | null, unknown]>((resolve) =>
    handler(call(user), ((err: CallStatus | null, res: unknown) => resolve([err, res])) as never),
  );
}

describe('withMixer', () => {
  const impl = (_call: unknown, cb: (err: CallStatus | null, res?: string) => void) => cb(null, 'reviews');

  it('runs the handler when mixer allows, and reports the call', async () => {
    const t = new Transport();
    const client = new MixerClient(t);
    const handler = withMixer(client, impl as never, {
      attributes: { 'destination.service.host': 'reviews' },
    });
    expect(await invoke(handler, 'alice')).toEqual([null, 'reviews']);
    await client.close();
    expect(t.reports).toHaveLength(1);
    expect(t.reports[0].attributes[0].words).toEqual(
      expect.arrayContaining([
        'destination.service.host',
        'reviews',
        '/reviews.Reviews/Get',
        'response.grpc_status',
      ]),
    );
  });

  it('adds the attributes read from each call, leaving out the undefined ones', async () => {
    const t = new Transport();
    const client = new MixerClient(t);
    const handler = withMixer(client, impl as never, {
      callAttributes: (c: ReturnType<typeof call>) => ({
        'source.principal': `cluster.local/ns/default/sa/${c.metadata.getMap()['x-user']}`,
        'source.namespace': undefined,
      }),
    });
    await invoke(handler as never, 'alice');
    await client.close();
    const words = t.reports[0].attributes[0].words;
    expect(words).toEqual(expect.arrayContaining(['source.principal', 'cluster.local/ns/default/sa/alice']));
    expect(words).not.toContain('source.namespace');
  });

  it('answers a denial with mixer status, never runs the handler, and reports it as a 403', async () => {
    const t = new Transport();
    const handler = jest.fn(impl);
    const client = new MixerClient(t);
    const [err] = await invoke(withMixer(client, handler as never), 'banned');
    expect(err).toEqual({ code: 7, details: 'user is banned' });
    expect(handler).not.toHaveBeenCalled();
    await client.close();
    expect(t.reports).toHaveLength(1);
    const { words, int64s, strings } = t.reports[0].attributes[0];
    const word = (name: string) => -words.indexOf(name) - 1;
    expect(int64s[word('response.code')]).toBe(403);
    expect(words[-strings[word('response.grpc_status')] - 1]).toBe('7');
  });

  it('answers UNAVAILABLE when mixer is down, unless fail-open', async () => {
    const t = new Transport();
    t.down = true;
    const client = new MixerClient(t);
    expect((await invoke(withMixer(client, impl as never), 'alice'))[0]).toMatchObject({ code: 14 });
    expect(await invoke(withMixer(client, impl as never, { failOpen: true }), 'alice')).toEqual([
      null,
      'reviews',
    ]);
  });
});

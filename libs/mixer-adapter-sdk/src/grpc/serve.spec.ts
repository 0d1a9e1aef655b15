import * as grpc from '@grpc/grpc-js';
import { defineAdapter } from '../adapter';
import { createRecordingAdapter } from '../harness';
import { ParamsReader } from '../params';
import { checkDenied, checkOk, quotaGranted } from '../results';
import { Code } from '../status';
import type { MetricInstance, TemplateName } from '../templates';
import { serveAdapter } from './serve';
import { adapterOf, serveAdapterMain } from './serve-cli';
import type { AdapterServer } from './serve';
import { TEMPLATE_SERVICES } from './services';
import {
  checkResultFromWire,
  instanceFromWire,
  instanceToWire,
  paramsToAdapterConfig,
  quotaRequestToWire,
  quotaResultFromWire,
} from './wire';

/** Allows the values listed in params, denies the rest (NOT_FOUND); params are validated strictly. */
const allowlist = defineAdapter({
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
      params.values.includes(i.value)
        ? checkOk(30_000, 5)
        : checkDenied(`${i.value} is not listed`, Code.NOT_FOUND),
    close: async () => undefined,
  }),
});

/** Calls `template`'s adapter service the way mixer does, returning the decoded answer or the gRPC error. */
function call<R>(address: string, template: TemplateName, parts: object, params: unknown = {}): Promise<R> {
  const service = TEMPLATE_SERVICES[template];
  const method = service.definition[service.method];
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const request = service.request({ ...parts, adapterConfig: paramsToAdapterConfig(params) });
  return new Promise<R>((resolve, reject) =>
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res as R);
      },
    ),
  );
}

describe('serveAdapter', () => {
  const servers: AdapterServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it("answers HandleListEntry with the adapter's verdict, params travelling as adapter_config", async () => {
    const server = await serveAdapter(allowlist, { port: 0 });
    servers.push(server);
    const check = async (value: string) =>
      checkResultFromWire(
        await call(
          server.address,
          'listentry',
          { instance: instanceToWire('listentry', { name: 'entry.ns', value }) },
          { values: ['alice'] },
        ),
      );
    expect(await check('alice')).toEqual({
      status: { code: Code.OK, message: '' },
      validDurationMs: 30_000,
      validUseCount: 5,
    });
    expect((await check('mallory')).status).toEqual({
      code: Code.NOT_FOUND,
      message: 'mallory is not listed',
    });
  });

  it('refuses bad params with INVALID_ARGUMENT naming the field, and templates it does not serve with UNIMPLEMENTED', async () => {
    const server = await serveAdapter(allowlist, { port: 0 });
    servers.push(server);
    const instance = instanceToWire('listentry', { name: 'entry.ns', value: 'x' });
    await expect(call(server.address, 'listentry', { instance }, { valuez: ['x'] })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringContaining('valuez: unknown field'),
    });
    await expect(
      call(server.address, 'checknothing', { instance: instanceToWire('checknothing', { name: 'c.ns' }) }),
    ).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  });

  it('carries quota requests and report batches, with every value type intact', async () => {
    const recorder = createRecordingAdapter('recorder', {
      quota: (_instance, args) => quotaGranted(Math.min(args.amount, 2), 1500),
    });
    const server = await serveAdapter(recorder, { port: 0 });
    servers.push(server);

    const args = { amount: 5, bestEffort: true, deduplicationId: 'dedup-1' };
    const quota = quotaResultFromWire(
      'rq.ns',
      args,
      await call(server.address, 'quota', {
        instance: instanceToWire('quota', { name: 'rq.ns', dimensions: { user: 'bob' } }),
        dedupId: args.deduplicationId,
        quotaRequest: quotaRequestToWire('rq.ns', args),
      }),
    );
    expect(quota).toEqual({ status: { code: Code.OK, message: '' }, amount: 2, validDurationMs: 1500 });
    expect(recorder.calls[0]).toMatchObject({
      template: 'quota',
      instances: [{ name: 'rq.ns', dimensions: { user: 'bob' } }],
      args,
    });

    const metric: MetricInstance = {
      name: 'requests.ns',
      value: 2.5,
      dimensions: {
        code: 200,
        ok: true,
        at: new Date('2020-01-02T03:04:05.000Z'),
        ip: Uint8Array.from([10, 0, 0, 1]),
        latency: { seconds: 1, nanos: 500_000_000 },
        host: 'reviews',
      },
      monitoredResourceType: 'k8s_container',
      monitoredResourceDimensions: {},
    };
    await call(server.address, 'metric', { instances: [instanceToWire('metric', metric)] });
    const received = recorder.calls[1].instances[0] as MetricInstance;
    expect(received).toEqual({ ...metric, dimensions: { ...metric.dimensions, ip: expect.anything() } });
    expect(Array.from(received.dimensions.ip as Uint8Array)).toEqual([10, 0, 0, 1]);
  });

  it('turns a failing handler into INTERNAL without its stack, and keeps serving', async () => {
    const failing = defineAdapter({
      name: 'flaky',
      description: 'throws',
      templates: ['checknothing'],
      validate: () => ({}),
      build: async () => ({
        handleCheckNothing: async () => {
          throw new Error('backend down');
        },
        close: async () => undefined,
      }),
    });
    const server = await serveAdapter(failing, { port: 0 });
    servers.push(server);
    const instance = instanceToWire('checknothing', { name: 'c.ns' });
    for (let i = 0; i < 2; i++)
      await expect(call(server.address, 'checknothing', { instance })).rejects.toMatchObject({
        code: grpc.status.INTERNAL,
        details: 'flaky: backend down',
      });
  });

  it('round-trips instances of every template through their wire form', () => {
    const authorization = {
      name: 'authz.ns',
      subject: { user: 'alice', groups: 'admins', properties: { tier: 'gold' } },
      action: { namespace: 'default', service: 'reviews', method: 'GET', path: '/r', properties: {} },
    };
    const logentry = {
      name: 'log.ns',
      variables: { size: 10 },
      timestamp: new Date('2021-01-01T00:00:00Z'),
      severity: 'INFO',
      monitoredResourceType: '',
      monitoredResourceDimensions: {},
    };
    expect(instanceFromWire('authorization', instanceToWire('authorization', authorization))).toEqual(
      authorization,
    );
    expect(instanceFromWire('logentry', instanceToWire('logentry', logentry))).toEqual(logentry);
  });
});

describe('mixer-adapter-serve', () => {
  it("finds a package's adapter: --export, then `adapter` or default, then its only adapter export", () => {
    const other = createRecordingAdapter('other');
    expect(adapterOf({ adapter: allowlist, listAdapter: other })).toBe(allowlist);
    expect(adapterOf({ default: allowlist })).toBe(allowlist);
    expect(adapterOf({ listAdapter: allowlist, compileList: () => undefined })).toBe(allowlist);
    expect(adapterOf({ a: allowlist, b: other })).toBeUndefined();
    expect(adapterOf({ a: allowlist, b: other }, 'b')).toBe(other);
    expect(adapterOf({ a: allowlist }, 'missing')).toBeUndefined();
  });

  it('refuses a missing package name or a bad port with its usage (exit 2)', async () => {
    const written: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      expect(await serveAdapterMain([])).toBe(2);
      expect(await serveAdapterMain(['pkg', '--port', 'http'])).toBe(2);
      expect(await serveAdapterMain(['@flotilla/no-such-adapter-package'])).toBe(1);
    } finally {
      write.mockRestore();
    }
    expect(written[0]).toContain('usage: mixer-adapter-serve PACKAGE');
    expect(written[2]).toContain('cannot load @flotilla/no-such-adapter-package');
  });
});

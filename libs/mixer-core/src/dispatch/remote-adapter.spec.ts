import {
  Code,
  ParamsReader,
  checkDenied,
  checkOk,
  createRecordingAdapter,
  defineAdapter,
  quotaGranted,
  serveAdapter,
  silentLogger,
} from '@flotilla/mixer-adapter-sdk';
import type { AdapterServer, Value } from '@flotilla/mixer-adapter-sdk';
import { resourcesFromYaml } from '../config/source';
import { MixerRuntime } from './runtime';

/** Denies when the listentry value is in params.banned; otherwise allows. Waits params.delayMs first. */
const banlist = defineAdapter({
  name: 'banlist',
  description: 'denies banned values (test adapter)',
  templates: ['listentry'],
  validate: (raw) => raw as { banned: string[]; delayMs?: number },
  build: async (params) => ({
    handleListEntry: async (i: { value: string }) => {
      if (params.delayMs) await new Promise((r) => setTimeout(r, params.delayMs));
      return params.banned.includes(i.value)
        ? checkDenied(`${i.value} is banned`, Code.PERMISSION_DENIED, 7000, 3)
        : checkOk(9000, 4);
    },
    close: async () => undefined,
  }),
});

const config = (address: string, extra = '', params = 'banned: [mallory]') => `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: remote, namespace: istio-system }
spec:
  adapter: banlist
  connection: { address: "${address}"${extra} }
  params: { ${params} }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: user, namespace: istio-system }
spec:
  compiledTemplate: listentry
  params:
    value: request.headers["x-user"] | "nobody"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: users, namespace: istio-system }
spec:
  actions:
  - handler: remote
    instances: [user]
`;

const bag = (user: string) => new Map<string, Value>([['request.headers', { 'x-user': user }]]);

async function runtimeWith(yaml: string): Promise<MixerRuntime> {
  const runtime = new MixerRuntime({ adapters: new Map(), logger: silentLogger });
  const { resources, errors } = resourcesFromYaml(yaml, 'test.yaml', 'istio-system');
  expect(errors).toEqual([]);
  expect((await runtime.apply(resources)).errors).toEqual([]);
  return runtime;
}

describe('out-of-process adapters (handler.spec.connection)', () => {
  let server: AdapterServer;
  beforeEach(async () => {
    server = await serveAdapter(banlist, { port: 0 });
  });
  afterEach(async () => {
    await server.close();
  });

  it("checks through the remote adapter's service: its denial, its validity, its params", async () => {
    const runtime = await runtimeWith(config(server.address));
    expect(await runtime.check(bag('mallory'))).toMatchObject({
      status: { code: Code.PERMISSION_DENIED, message: 'mallory is banned' },
      validDurationMs: 7000,
      validUseCount: 3,
    });
    expect(await runtime.check(bag('alice'))).toMatchObject({
      status: { code: Code.OK },
      validDurationMs: 9000,
      validUseCount: 4,
    });
    await runtime.close();
  });

  it('answers UNAVAILABLE, naming handler and address, when the adapter is gone; and recovers when it is back', async () => {
    const runtime = await runtimeWith(config(server.address));
    const port = server.port;
    await server.close();
    const outcome = await runtime.check(bag('alice'));
    expect(outcome.status.code).toBe(Code.UNAVAILABLE);
    expect(outcome.status.message).toContain(
      `out-of-process adapter of handler remote.istio-system at 127.0.0.1:${port} is unreachable`,
    );
    expect(outcome.validDurationMs).toBe(0);
    expect(outcome.validUseCount).toBe(0);

    server = await serveAdapter(banlist, { port });
    // grpc-js reconnects with backoff; the first attempts after the restart may still fail.
    let status = outcome.status;
    for (let i = 0; i < 50 && status.code !== Code.PERMISSION_DENIED; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await runtime.check(bag('mallory'))).status;
    }
    expect(status).toEqual({ code: Code.PERMISSION_DENIED, message: 'mallory is banned' });
    await runtime.close();
  });

  it('answers DEADLINE_EXCEEDED when the adapter is slower than connection.timeout', async () => {
    const runtime = await runtimeWith(
      config(server.address, ', timeout: 100ms', 'banned: [mallory], delayMs: 1000'),
    );
    const started = Date.now();
    const outcome = await runtime.check(bag('alice'));
    expect(Date.now() - started).toBeLessThan(900);
    expect(outcome.status.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(outcome.status.message).toContain('did not answer within 100 ms');
    await runtime.close();
  });

  it("keeps the adapter's own error: bad params come back as INVALID_ARGUMENT", async () => {
    const strict = defineAdapter({
      ...banlist,
      validate: (raw) => {
        const p = new ParamsReader(raw).only('banned');
        const banned = p.stringList('banned');
        p.done();
        return { banned };
      },
    });
    const strictServer = await serveAdapter(strict, { port: 0 });
    const runtime = await runtimeWith(config(strictServer.address, '', 'banned: [mallory], colour: red'));
    const outcome = await runtime.check(bag('alice'));
    expect(outcome.status.code).toBe(Code.INVALID_ARGUMENT);
    expect(outcome.status.message).toContain('colour: unknown field');
    await runtime.close();
    await strictServer.close();
  });

  it('sends quota and report instances to the remote adapter', async () => {
    const recorder = createRecordingAdapter('recorder', {
      quota: (_i, args) => quotaGranted(Math.min(args.amount, 2), 1000),
    });
    const recServer = await serveAdapter(recorder, { port: 0 });
    const runtime = await runtimeWith(`
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: rec, namespace: istio-system }
spec: { adapter: recorder, connection: { address: "${recServer.address}" } }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: requestcount, namespace: istio-system }
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      code: response.code | 200
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: rq, namespace: istio-system }
spec:
  compiledTemplate: quota
  params:
    dimensions:
      user: request.headers["x-user"] | "nobody"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: all, namespace: istio-system }
spec:
  actions:
  - handler: rec
    instances: [requestcount, rq]
`);
    const granted = await runtime.quota(bag('bob'), 'rq', {
      amount: 5,
      bestEffort: true,
      deduplicationId: 'd1',
    });
    expect(granted).toMatchObject({ status: { code: Code.OK }, amount: 2, validDurationMs: 1000 });
    const refused = await runtime.quota(bag('bob'), 'rq', {
      amount: 5,
      bestEffort: false,
      deduplicationId: 'd2',
    });
    expect(refused).toMatchObject({ status: { code: Code.RESOURCE_EXHAUSTED }, amount: 0 });

    expect(await runtime.report([new Map<string, Value>([['response.code', 503]])])).toEqual([]);
    expect(recorder.calls.map((c) => c.template)).toEqual(['quota', 'quota', 'metric']);
    expect(recorder.calls[0]).toMatchObject({
      instances: [{ name: 'rq.istio-system', dimensions: { user: 'bob' } }],
      args: { amount: 5, bestEffort: true, deduplicationId: 'd1' },
    });
    expect(recorder.calls[2].instances).toEqual([
      {
        name: 'requestcount.istio-system',
        value: 1,
        dimensions: { code: 503 },
        monitoredResourceType: '',
        monitoredResourceDimensions: {},
      },
    ]);
    await runtime.close();
    await recServer.close();
  });

  it('refuses a connection without a host:port or with a bad timeout, naming the field', async () => {
    const runtime = new MixerRuntime({ adapters: new Map(), logger: silentLogger });
    for (const [address, extra, problem] of [
      ['nowhere', '', 'spec.connection.address must be a host:port, got "nowhere"'],
      [
        '127.0.0.1:1',
        ', timeout: soon',
        'spec.connection.timeout must be a duration such as "2s", got "soon"',
      ],
    ]) {
      const { resources } = resourcesFromYaml(config(address, extra), 'test.yaml', 'istio-system');
      const result = await runtime.apply(resources);
      expect(result.errors[0]).toContain(problem);
      expect(result.handlers).toBe(0);
    }
  });
});

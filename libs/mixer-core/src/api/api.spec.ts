import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import {
  Code,
  checkDenied,
  createRecordingAdapter,
  quotaExhausted,
  quotaGranted,
  silentLogger,
} from '@flotilla/mixer-adapter-sdk';
import type { Adapter, Value } from '@flotilla/mixer-adapter-sdk';
import {
  accessLogService,
  externalAuth,
  mixerAttributes,
  mixerCheck,
  mixerReport,
  mixerService,
  rateLimitService,
} from '@flotilla/proto';
import { WordEncoder, encodeAttributes } from '../attributes/compressed';
import { GLOBAL_WORDS } from '../attributes/global-words';
import { resourcesFromYaml } from '../config/source';
import { MixerRuntime } from '../dispatch/runtime';
import { addMixerServices } from './register';

const CONFIG = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: denyall }
spec: { compiledAdapter: deny }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: denyrequest }
spec: { compiledTemplate: checknothing }
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: denybanned }
spec:
  match: request.headers["x-user"] == "banned"
  actions: [{ handler: denyall, instances: [denyrequest] }]
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: rec }
spec: { compiledAdapter: recorder }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: requestcount }
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      code: response.code | 0
      host: destination.service.host | request.host | "unknown"
      protocol: context.protocol | "unknown"
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: ratelimit }
spec:
  compiledTemplate: quota
  params:
    dimensions:
      path: ratelimit.descriptor["path"] | "none"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: telemetry }
spec:
  actions: [{ handler: rec, instances: [requestcount, ratelimit] }]
`;

/** Denies with the message the Envoy answer must carry. */
const deny: Adapter = {
  name: 'deny',
  description: 'test denier',
  templates: ['checknothing'],
  validate: (p) => p,
  build: async () => ({
    handleCheckNothing: async () => checkDenied('user is banned', Code.PERMISSION_DENIED, 5000, 100),
    close: async () => undefined,
  }),
};

describe('mixer gRPC APIs', () => {
  let server: grpc.Server;
  let address: string;
  const used = new Map<string, number>();
  const recorder = createRecordingAdapter('recorder', {
    // A quota of 2 per path, counted here.
    quota: (instance, args) => {
      const path = String(instance.dimensions.path);
      const n = used.get(path) ?? 0;
      if (n + args.amount > 2) return quotaExhausted('over', 7000, { limit: 2, windowMs: 60_000 });
      used.set(path, n + args.amount);
      return quotaGranted(args.amount, 60_000, {
        limit: 2,
        remaining: 2 - n - args.amount,
        windowMs: 60_000,
      });
    },
  });
  const runtime = new MixerRuntime({
    adapters: new Map([
      ['deny', deny],
      ['recorder', recorder as Adapter],
    ]),
    logger: silentLogger,
  });

  beforeAll(async () => {
    const { resources, errors } = resourcesFromYaml(CONFIG, 'test.yaml', 'istio-system');
    expect(errors).toEqual([]);
    expect((await runtime.apply(resources)).errors).toEqual([]);
    server = new grpc.Server();
    addMixerServices(server, runtime, { error: () => undefined });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    server.forceShutdown();
    await runtime.close();
  });

  const creds = grpc.credentials.createInsecure();
  const call = <Req, Res>(client: grpc.Client, method: string, req: Req): Promise<Res> =>
    new Promise((resolve, reject) =>
      (
        client as unknown as Record<
          string,
          (r: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => void
        >
      )[method](req, (e, r) => (e ? reject(e) : resolve(r))),
    );

  describe('istio.mixer.v1.Mixer', () => {
    let client: mixerService.MixerClient;
    beforeAll(() => {
      client = new mixerService.MixerClient(address, creds);
    });
    afterAll(() => client.close());

    const check = (attrs: Map<string, Value>, extra: Partial<mixerCheck.CheckRequest> = {}) =>
      call<mixerCheck.CheckRequest, mixerCheck.CheckResponse>(
        client,
        'check',
        mixerCheck.CheckRequest.fromPartial({
          attributes: encodeAttributes(attrs),
          globalWordCount: GLOBAL_WORDS.length,
          ...extra,
        }),
      );

    it('denies a banned user with the adapter status, validity and referenced attributes', async () => {
      const res = await check(new Map([['request.headers', { 'x-user': 'banned' }]]));
      const p = res.precondition!;
      expect(p.status).toMatchObject({ code: Code.PERMISSION_DENIED, message: 'user is banned' });
      expect(p.validDuration).toMatchObject({ seconds: 5, nanos: 0 });
      expect(p.validUseCount).toBe(100);
      const ref = p.referencedAttributes!;
      const word = (i: number) => (i >= 0 ? GLOBAL_WORDS[i] : ref.words[-i - 1]);
      expect(ref.attributeMatches.map((m) => [word(m.name), word(m.mapKey), m.condition])).toEqual([
        ['request.headers', 'x-user', mixerCheck.ReferencedAttributes_Condition.EXACT],
      ]);
    });

    it("allows others with mixer's default validity, and allocates the quotas asked for", async () => {
      const res = await check(new Map([['request.headers', { 'x-user': 'alice' }]]), {
        quotas: { 'ratelimit.quota.istio-system': { amount: 1, bestEffort: false } },
        deduplicationId: 'r1',
      });
      expect(res.precondition!.status!.code).toBe(Code.OK);
      expect(res.precondition!.validDuration!.seconds).toBe(60);
      expect(res.precondition!.validUseCount).toBe(10_000);
      expect(res.quotas['ratelimit.quota.istio-system']).toMatchObject({
        grantedAmount: 1,
        status: { code: 0 },
      });
    });

    it('refuses a global_word_count larger than its dictionary with FAILED_PRECONDITION', async () => {
      await expect(check(new Map(), { globalWordCount: 5000 })).rejects.toMatchObject({
        code: grpc.status.FAILED_PRECONDITION,
        details: expect.stringMatching(
          /global_word_count 5000 is larger than this mixer's global dictionary of 202 words/,
        ),
      });
    });

    it('refuses a word index outside the dictionaries with INVALID_ARGUMENT naming the index', async () => {
      const attributes = mixerAttributes.CompressedAttributes.fromPartial({ strings: { [-7]: 0 } });
      await expect(
        call(client, 'check', mixerCheck.CheckRequest.fromPartial({ attributes, globalWordCount: 202 })),
      ).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringMatching(/word index -7/),
      });
    });

    it('reports batches with delta encoding: each entry applies over the one before', async () => {
      recorder.calls.length = 0;
      const encoder = new WordEncoder();
      const first = encodeAttributes(
        new Map<string, Value>([
          ['destination.service.host', 'reviews'],
          ['response.code', 200],
        ]),
        encoder,
      );
      const second = encodeAttributes(new Map<string, Value>([['response.code', 503]]), encoder);
      const req = mixerReport.ReportRequest.fromPartial({
        attributes: [
          { ...first, words: [] },
          { ...second, words: [] },
        ],
        defaultWords: encoder.words,
        globalWordCount: GLOBAL_WORDS.length,
      });
      await call(client, 'report', req);
      const metric = recorder.calls.find((c) => c.template === 'metric')!;
      expect(metric.instances.map((i) => (i as { dimensions: unknown }).dimensions)).toEqual([
        { code: 200, host: 'reviews', protocol: 'unknown' },
        { code: 503, host: 'reviews', protocol: 'unknown' },
      ]);
    });
  });

  describe('envoy.service.auth.v3.Authorization (ext_authz)', () => {
    let client: externalAuth.AuthorizationClient;
    beforeAll(() => {
      client = new externalAuth.AuthorizationClient(address, creds);
    });
    afterAll(() => client.close());

    const authz = (headers: Record<string, string>) =>
      call<externalAuth.CheckRequest, externalAuth.CheckResponse>(
        client,
        'check',
        externalAuth.CheckRequest.fromPartial({
          attributes: {
            source: {
              address: { socketAddress: { address: '10.0.0.7', portValue: 5555 } },
              principal: 'spiffe://cluster.local/ns/default/sa/productpage',
            },
            destination: { address: { socketAddress: { address: '10.0.0.9', portValue: 9080 } } },
            request: { http: { method: 'GET', path: '/reviews/1', host: 'reviews', headers } },
          },
        }),
      );

    it('answers PERMISSION_DENIED with an HTTP 403 carrying the adapter message for the banned header', async () => {
      const res = await authz({ 'X-User': 'banned' });
      expect(res.status).toMatchObject({ code: grpc.status.PERMISSION_DENIED, message: 'user is banned' });
      expect(res.deniedResponse).toMatchObject({ status: { code: 403 }, body: 'user is banned' });
    });

    it('answers OK otherwise', async () => {
      const res = await authz({ 'x-user': 'alice' });
      expect(res.status!.code).toBe(grpc.status.OK);
      expect(res.okResponse).toBeDefined();
      expect(res.deniedResponse).toBeUndefined();
    });

    it('answers a request without attributes with INVALID_ARGUMENT', async () => {
      await expect(call(client, 'check', externalAuth.CheckRequest.fromPartial({}))).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
      });
    });
  });

  describe('envoy.service.ratelimit.v3.RateLimitService', () => {
    it('turns descriptors into quota allocations and answers OVER_LIMIT with the limit and reset time', async () => {
      const client = new rateLimitService.RateLimitServiceClient(address, creds);
      const ask = () =>
        call<rateLimitService.RateLimitRequest, rateLimitService.RateLimitResponse>(
          client,
          'shouldRateLimit',
          rateLimitService.RateLimitRequest.fromPartial({
            domain: 'ratelimit',
            descriptors: [{ entries: [{ key: 'path', value: '/rl' }] }],
          }),
        );
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push(await ask());
      expect(codes.map((r) => r.overallCode)).toEqual([
        rateLimitService.RateLimitResponse_Code.OK,
        rateLimitService.RateLimitResponse_Code.OK,
        rateLimitService.RateLimitResponse_Code.OVER_LIMIT,
      ]);
      expect(codes[1].statuses[0].limitRemaining).toBe(0);
      expect(codes[2].statuses[0]).toMatchObject({
        code: rateLimitService.RateLimitResponse_Code.OVER_LIMIT,
        currentLimit: { requestsPerUnit: 2, unit: rateLimitService.RateLimitResponse_RateLimit_Unit.MINUTE },
        durationUntilReset: { seconds: 7 },
      });
      client.close();
    });
  });

  describe('envoy.service.accesslog.v3.AccessLogService', () => {
    it('turns HTTP and TCP entries into report attribute sets', async () => {
      recorder.calls.length = 0;
      const client = new accessLogService.AccessLogServiceClient(address, creds);
      await new Promise<void>((resolve, reject) => {
        const stream = client.streamAccessLogs((err) => (err ? reject(err) : resolve()));
        stream.write(
          accessLogService.StreamAccessLogsMessage.fromPartial({
            identifier: { logName: 'mesh' },
            httpLogs: {
              logEntry: [
                {
                  commonProperties: { upstreamCluster: 'outbound|9080||ratings.default.svc.cluster.local' },
                  request: { requestMethod: 1, path: '/ratings/1', authority: 'ratings' },
                  response: { responseCode: 200 },
                },
              ],
            },
          }),
        );
        stream.write(
          accessLogService.StreamAccessLogsMessage.fromPartial({
            tcpLogs: { logEntry: [{ connectionProperties: { receivedBytes: 10, sentBytes: 20 } }] },
          }),
        );
        stream.end();
      });
      const dims = recorder.calls
        .filter((c) => c.template === 'metric')
        .flatMap((c) => c.instances.map((i) => (i as { dimensions: unknown }).dimensions));
      expect(dims).toEqual([
        { code: 200, host: 'ratings.default.svc.cluster.local', protocol: 'http' },
        { code: 0, host: 'unknown', protocol: 'tcp' },
      ]);
      client.close();
    });
  });

  describe('malformed input', () => {
    const rawCall = (client: grpc.Client, path: string, bytes: Buffer) =>
      new Promise<grpc.status>((resolve) =>
        client.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          (err) => resolve(err ? err.code : grpc.status.OK),
        ),
      );

    it('answers random bytes on every method with a status, and keeps serving', async () => {
      const client = new grpc.Client(address, creds);
      const paths = [
        '/istio.mixer.v1.Mixer/Check',
        '/istio.mixer.v1.Mixer/Report',
        '/envoy.service.auth.v3.Authorization/Check',
        '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit',
      ];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...paths),
          fc.uint8Array({ maxLength: 200 }),
          async (path, bytes) => {
            const code = await rawCall(client, path, Buffer.from(bytes));
            expect([
              grpc.status.OK,
              grpc.status.INVALID_ARGUMENT,
              grpc.status.FAILED_PRECONDITION,
              grpc.status.INTERNAL,
            ]).toContain(code);
            // INTERNAL is the transport's answer to bytes that do not parse as the request message.
          },
        ),
        { numRuns: 200 },
      );
      client.close();
    });

    it('answers random CompressedAttributes with OK, INVALID_ARGUMENT or FAILED_PRECONDITION only', async () => {
      const client = new mixerService.MixerClient(address, creds);
      const index = fc.integer({ min: -8, max: 260 });
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.string(), { maxLength: 5 }),
          fc.dictionary(index.map(String), index),
          fc.dictionary(index.map(String), fc.integer()),
          fc.integer({ min: 0, max: 300 }),
          async (words, strings, int64s, globalWordCount) => {
            const req = mixerCheck.CheckRequest.fromPartial({
              attributes: { words, strings: strings as never, int64s: int64s as never },
              globalWordCount,
            });
            const code = await new Promise<grpc.status>((resolve) =>
              client.check(req, (err) => resolve(err ? err.code : grpc.status.OK)),
            );
            expect([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION]).toContain(
              code,
            );
          },
        ),
        { numRuns: 200 },
      );
      client.close();
    });
  });
});

// Mixer's costs, each against a baseline in the same run:
//  1. Check throughput over gRPC (istio.mixer.v1.Mixer/Check with a denier rule on a header) against a bare grpc-js
//     unary echo of the same request bytes at the same concurrency: what mixer adds on top of the transport.
//  2. Report ingestion on one core: decoding CompressedAttributes and dispatching metric instances of a batch of
//     100 attribute sets per Report, in process (no transport), in attribute sets per second.
import * as grpc from '@grpc/grpc-js';
import { Code, checkDenied, createRecordingAdapter, silentLogger } from '@flotilla/mixer-adapter-sdk';
import type { Adapter, Value } from '@flotilla/mixer-adapter-sdk';

import {
  GLOBAL_WORDS,
  MixerRuntime,
  WordEncoder,
  WordTable,
  addMixerServices,
  decodeAttributes,
  encodeAttributes,
  resourcesFromYaml,
} from '@flotilla/mixer-core';
import { mixerCheck, mixerReport } from '@flotilla/proto';

const CONCURRENCY = 32;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

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
      destination: destination.service.host | "unknown"
      code: response.code | 0
      method: request.method | "unknown"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: telemetry }
spec:
  match: context.protocol == "http"
  actions: [{ handler: rec, instances: [requestcount] }]
`;

const deny: Adapter = {
  name: 'deny',
  description: 'benchmark denier',
  templates: ['checknothing'],
  validate: (p) => p,
  build: async () => ({
    handleCheckNothing: async () => checkDenied('banned', Code.PERMISSION_DENIED),
    close: async () => undefined,
  }),
};

/** A handler that drops report instances (counting them), so the benchmark measures mixer, not an adapter. */
let reported = 0;
const sinkAdapter: Adapter = {
  ...createRecordingAdapter('recorder'),
  build: async () => ({
    handleMetric: async (instances: readonly unknown[]) => {
      reported += instances.length;
    },
    close: async () => undefined,
  }),
};

function requestAttributes(i: number): Map<string, Value> {
  return new Map<string, Value>([
    [
      'request.headers',
      {
        ':authority': 'reviews:9080',
        ':path': `/reviews/${i % 10}`,
        'x-user': i % 5 ? 'alice' : 'banned',
        'user-agent': 'bench',
      },
    ],
    ['request.method', 'GET'],
    ['request.path', `/reviews/${i % 10}`],
    ['destination.service.host', 'reviews.default.svc.cluster.local'],
    ['source.principal', 'cluster.local/ns/default/sa/productpage'],
    ['response.code', 200],
    ['context.protocol', 'http'],
  ]);
}

async function closedLoop(
  seconds: number,
  concurrency: number,
  call: (i: number) => Promise<unknown>,
): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  const worker = async (w: number) => {
    let i = w;
    while (Date.now() < deadline) {
      await call(i);
      i += concurrency;
      done++;
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return (done * 1e9) / Number(process.hrtime.bigint() - start);
}

async function listen(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return `127.0.0.1:${port}`;
}

async function checkThroughput(runtime: MixerRuntime): Promise<{ echo: number; check: number }> {
  const requests = Array.from({ length: 100 }, (_, i) =>
    mixerCheck.CheckRequest.fromPartial({
      attributes: encodeAttributes(requestAttributes(i)),
      globalWordCount: GLOBAL_WORDS.length,
    }),
  );
  const bytes = requests.map((r) => Buffer.from(mixerCheck.CheckRequest.encode(r).finish()));

  // Baseline: a bare grpc-js unary method that answers the request bytes back, no decoding.
  const echoServer = new grpc.Server();
  echoServer.addService(
    {
      echo: {
        path: '/bench.Echo/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, call.request),
    },
  );
  const echoAddress = await listen(echoServer);
  const echoClient = new grpc.Client(echoAddress, grpc.credentials.createInsecure());
  const echo = (i: number) =>
    new Promise((resolve, reject) =>
      echoClient.makeUnaryRequest(
        '/bench.Echo/Echo',
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes[i % bytes.length],
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );

  const mixerServer = new grpc.Server();
  addMixerServices(mixerServer, runtime, { error: (o) => console.error(o) });
  const mixerAddress = await listen(mixerServer);
  // The client sends the same pre-encoded bytes as the echo client and does not decode the answer, so the two
  // cases differ only in what the server does.
  const client = new grpc.Client(mixerAddress, grpc.credentials.createInsecure());
  const raw = <T>(bytes: Buffer, decode: (b: Buffer) => T) =>
    new Promise<T>((resolve, reject) =>
      client.makeUnaryRequest(
        '/istio.mixer.v1.Mixer/Check',
        (b: Buffer) => b,
        decode,
        bytes,
        (e, r) => (e ? reject(e) : resolve(r!)),
      ),
    );
  const check = (i: number) => raw(bytes[i % bytes.length], (b) => b);
  // Once, decoded, to be sure the benchmark measures real answers (every fifth request is banned).
  const probe = await raw(bytes[0], (b) => mixerCheck.CheckResponse.decode(b));
  if (probe.precondition?.status?.code !== Code.PERMISSION_DENIED)
    throw new Error('request 0 should be denied');

  // Warm both, then alternate rounds so machine noise hits both alike.
  await closedLoop(1, CONCURRENCY, echo);
  await closedLoop(1, CONCURRENCY, check);
  const rounds = 3;
  let echoSum = 0;
  let checkSum = 0;
  for (let r = 0; r < rounds; r++) {
    echoSum += await closedLoop(SECONDS / rounds, CONCURRENCY, echo);
    checkSum += await closedLoop(SECONDS / rounds, CONCURRENCY, check);
  }
  echoClient.close();
  client.close();
  echoServer.forceShutdown();
  mixerServer.forceShutdown();
  return { echo: echoSum / rounds, check: checkSum / rounds };
}

async function reportIngestion(runtime: MixerRuntime): Promise<{ decodeOnly: number; ingest: number }> {
  const BATCH = 100;
  const encoder = new WordEncoder();
  const entries = Array.from({ length: BATCH }, (_, i) => encodeAttributes(requestAttributes(i), encoder));
  const request = mixerReport.ReportRequest.fromPartial({
    attributes: entries.map((e) => ({ ...e, words: [] })),
    defaultWords: encoder.words,
    globalWordCount: GLOBAL_WORDS.length,
    repeatedAttributesSemantics: mixerReport.ReportRequest_RepeatedAttributesSemantics.INDEPENDENT_ENCODING,
  });
  const wire = mixerReport.ReportRequest.encode(request).finish();
  const decode = () => {
    const req = mixerReport.ReportRequest.decode(wire);
    const words = new WordTable(req.defaultWords, req.globalWordCount);
    return req.attributes.map((a) => decodeAttributes(a, words));
  };
  const measure = async (seconds: number, op: () => Promise<unknown> | unknown) => {
    const deadline = Date.now() + seconds * 1000;
    let sets = 0;
    const start = process.hrtime.bigint();
    while (Date.now() < deadline) {
      await op();
      sets += BATCH;
    }
    return (sets * 1e9) / Number(process.hrtime.bigint() - start);
  };
  await measure(1, decode);
  await measure(1, () => runtime.report(decode()));
  const before = reported;
  const decodeOnly = await measure(SECONDS / 2, decode);
  const ingest = await measure(SECONDS / 2, () => runtime.report(decode()));
  if (reported === before) throw new Error('no metric instance reached the handler');
  return { decodeOnly, ingest };
}

async function main(): Promise<void> {
  const runtime = new MixerRuntime({
    adapters: new Map([
      ['deny', deny],
      ['recorder', sinkAdapter],
    ]),
    logger: silentLogger,
  });
  const { resources, errors } = resourcesFromYaml(CONFIG, 'bench.yaml', 'istio-system');
  const applied = await runtime.apply(resources);
  if (errors.length || applied.errors.length) throw new Error([...errors, ...applied.errors].join('\n'));

  const c = await checkThroughput(runtime);
  const r = await reportIngestion(runtime);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`Check over gRPC, concurrency ${CONCURRENCY}, ${SECONDS}s each (alternating rounds)`);
  console.log(`  bare grpc-js unary echo   ${fmt(c.echo)} req/s`);
  console.log(`  mixer Check               ${fmt(c.check)} req/s   ratio ${(c.check / c.echo).toFixed(2)}`);
  console.log('Report ingestion, batches of 100 attribute sets, one core, in process');
  console.log(`  decode only               ${fmt(r.decodeOnly)} sets/s`);
  console.log(
    `  decode + dispatch metric  ${fmt(r.ingest)} sets/s   ratio ${(r.ingest / r.decodeOnly).toFixed(2)}`,
  );
  await runtime.close();
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

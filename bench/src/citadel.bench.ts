// Citadel's issuance path: turning a CSR into a signed SPIFFE workload certificate.
//  1. On one core, in process: raw crypto.sign (the baseline), raw verify+sign (the floor for CSR → certificate),
//     Flotilla's fast path (native CSR check, DER template, native signing) and the naive path (@peculiar/x509
//     parse, verify and build per certificate), all measured in this run; and the V8 heap bytes one call
//     allocates (not a timing).
//  2. Over gRPC: CreateCertificate at a fixed offered rate against a real citadel process, reporting latency
//     percentiles and citadel's garbage collections during the run (--trace-gc-nvp). Run with
//     `npx nx run bench:citadel`.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  X509Certificate,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import * as grpc from '@grpc/grpc-js';
import {
  CertificateAuthority,
  Pkcs11Signer,
  csrPemToDer,
  generatePkcs11EcKey,
  loadOrCreateRoot,
  loadOrCreateSignerRoot,
  loadOrCreateTokenKey,
  selfSignedMaterial,
  signLocalToken,
  x509,
} from '@flotilla/pki';
import { ca as caProto } from '@flotilla/proto';
import { freePorts, opensslCsr, tempDir, waitFor } from '@flotilla/testing';
import { bench, formatResults, percentile } from './harness';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/default/sa/bench`;
const HOUR = 3600_000;

async function inProcess(): Promise<void> {
  const dir = tempDir('flotilla-bench-citadel-');
  const material = await selfSignedMaterial(dir, TD);
  const ca = new CertificateAuthority(material, {
    trustDomain: TD,
    defaultTtlMs: 24 * HOUR,
    maxTtlMs: 24 * HOUR,
  });
  const csrPem = opensslCsr(dir, 'bench', { uris: [ID] });
  const csrDer = csrPemToDer(csrPem);

  // Inputs of the same size as a real TBSCertificate, for the raw baselines.
  const caKey = createPrivateKey(readFileSync(join(dir, 'root-key.pem'), 'utf8'));
  const workload = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tbs = randomBytes(ca.issueWorkloadSync(csrDer, ID, 0).der.length - 80);
  const csrSignature = sign('sha256', tbs, workload.privateKey);

  // Each case's result is checked before timing, so a broken path cannot look fast.
  const issued = new X509Certificate(ca.issueWorkloadSync(csrDer, ID, 0).der);
  if (
    !issued.verify(new X509Certificate(ca.roots[0].der).publicKey) ||
    issued.subjectAltName !== `URI:${ID}`
  ) {
    throw new Error('the fast path produced a certificate that does not verify');
  }

  const results = bench(
    { name: 'raw crypto.sign (P-256)', run: () => sign('sha256', tbs, caKey) },
    [
      {
        name: 'raw crypto.verify + crypto.sign',
        run: () => verify('sha256', tbs, workload.publicKey, csrSignature) && sign('sha256', tbs, caKey),
      },
      { name: 'fast path: CSR → certificate', run: () => ca.issueWorkloadSync(csrDer, ID, 0) },
    ],
    { rounds: 5, msPerRound: 400 },
  );

  // The naive path is asynchronous (WebCrypto), so it is timed by its own loop, in the same run.
  const root = await loadOrCreateRoot(dir, TD);
  const naive = async () => {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) throw new Error('CSR does not verify');
    return x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString('hex').replace(/^./, '4'),
      issuer: root.certificate.subject,
      subject: '',
      notBefore: new Date(Date.now() - 120_000),
      notAfter: new Date(Date.now() + 24 * HOUR),
      publicKey: csr.publicKey,
      signingKey: root.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: ID }], true),
      ],
    });
  };
  const sample = new X509Certificate(Buffer.from((await naive()).rawData));
  if (!sample.verify(new X509Certificate(ca.roots[0].der).publicKey))
    throw new Error('the naive path is broken');
  for (let i = 0; i < 50; i++) await naive();
  const start = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - start < 2_000_000_000n) {
    await naive();
    n++;
  }
  const naiveRate = (n * 1e9) / Number(process.hrtime.bigint() - start);
  results.push({
    name: 'naive @peculiar/x509 path',
    opsPerSecond: naiveRate,
    ratio: naiveRate / results[0].opsPerSecond,
  });

  const rawBytes = heapBytesPerCall(
    () => verify('sha256', tbs, workload.publicKey, csrSignature) && sign('sha256', tbs, caKey),
  );
  const fastBytes = heapBytesPerCall(() => ca.issueWorkloadSync(csrDer, ID, 0));

  results.push(await softHsm(csrDer, results[0].opsPerSecond));
  console.log(formatResults('Citadel issuance, one core, in process (P-256 CA and workload keys)', results));
  const fast = results.find((r) => r.name.startsWith('fast path'))!;
  console.log(
    `  fast path vs naive: ${(fast.opsPerSecond / naiveRate).toFixed(1)}×; ` +
      `fast path vs raw verify+sign: ${(fast.opsPerSecond / results[1].opsPerSecond).toFixed(2)}×`,
  );
  console.log(
    `  V8 heap allocated per call: raw verify + sign ${rawBytes} B, fast path ${fastBytes} B ` +
      `(every byte is young-generation garbage the process scavenges)`,
  );
}

/**
 * Bytes allocated on the V8 heap per call of `run`, the median over batches during which no scavenge ran (the
 * young generation's used size only grows between scavenges). Not a timing: it does not depend on machine load.
 */
function heapBytesPerCall(run: () => unknown, batch = 50): number {
  const newSpaceUsed = () =>
    getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
  for (let i = 0; i < 2000; i++) run(); // optimised code allocates less than the interpreter
  const samples: number[] = [];
  for (let attempt = 0; attempt < 200 && samples.length < 21; attempt++) {
    const young = newSpaceUsed();
    const before = getHeapStatistics().used_heap_size;
    for (let i = 0; i < batch; i++) run();
    const after = getHeapStatistics().used_heap_size;
    if (newSpaceUsed() >= young) samples.push((after - before) / batch);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[samples.length >> 1]);
}

/**
 * The same fast path with the CA key on a SoftHSM2 token (a fresh one in a temporary folder), 32 requests in
 * flight across the signer's 4 sessions.
 */
async function softHsm(csrDer: Buffer, baseline: number) {
  const dir = tempDir('flotilla-bench-softhsm-');
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(
    join(dir, 'softhsm2.conf'),
    `directories.tokendir = ${join(dir, 'tokens')}\nlog.level = ERROR\n`,
  );
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'],
    {
      stdio: 'pipe',
    },
  );
  const config = {
    module: '/usr/lib/softhsm/libsofthsm2.so',
    tokenLabel: 'bench',
    keyLabel: 'ca',
    pin: '1234',
    sessions: 4,
  };
  await generatePkcs11EcKey(config);
  const signer = await Pkcs11Signer.open(config);
  const ca = new CertificateAuthority(await loadOrCreateSignerRoot(dir, TD, signer), {
    trustDomain: TD,
    defaultTtlMs: 24 * HOUR,
    maxTtlMs: 24 * HOUR,
  });
  const first = new X509Certificate((await ca.issueWorkload(csrDer, ID, 0)).der);
  if (!first.verify(new X509Certificate(ca.roots[0].der).publicKey))
    throw new Error('the SoftHSM path is broken');
  let n = 0;
  const deadline = Date.now() + 3000;
  const worker = async () => {
    while (Date.now() < deadline) {
      await ca.issueWorkload(csrDer, ID, 0);
      n++;
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 32 }, worker));
  const rate = (n * 1e9) / Number(process.hrtime.bigint() - start);
  await signer.close();
  return { name: 'fast path, CA key in SoftHSM2', opsPerSecond: rate, ratio: rate / baseline };
}

/** Citadel's --trace-gc-nvp lines while the offered load runs; anything else it prints is passed through. */
class GcLog {
  measuring = false;
  private readonly scavenges: { pause: number; survivedKb: number }[] = [];
  private readonly markCompactPauses: number[] = [];

  add(line: string): void {
    const kind = /\bgc=(\w+)/.exec(line)?.[1];
    if (!kind) {
      console.log(line);
      return;
    }
    if (!this.measuring) return;
    const field = (name: string) => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1] ?? NaN);
    if (kind === 's')
      this.scavenges.push({ pause: field('pause'), survivedKb: field('new_space_survived') / 1024 });
    else {
      this.markCompactPauses.push(field('pause'));
      if (process.env.CITADEL_BENCH_GC_DUMP) console.log(line);
    }
  }

  summary(calls: number): string {
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;
    const pauses = this.scavenges.map((s) => s.pause);
    return (
      `${this.scavenges.length} scavenges (${((1000 * this.scavenges.length) / calls).toFixed(1)} per 1,000 calls), ` +
      `pause median ${median(pauses).toFixed(1)} ms, max ${Math.max(...pauses).toFixed(1)} ms, ` +
      `survivors median ${median(this.scavenges.map((s) => s.survivedKb)).toFixed(0)} KB; ` +
      `${this.markCompactPauses.length} mark-compacts` +
      (this.markCompactPauses.length ? `, longest ${Math.max(...this.markCompactPauses).toFixed(1)} ms` : '')
    );
  }
}

/** Sends CreateCertificate calls; `done` gets an error unless the answer was OK with a certificate chain. */
interface LoadClient {
  send(done: (err?: Error) => void): void;
  close(): void;
}

type ClientKind = 'grpc-js' | 'http2' | 'h2load';

const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

/** A request as one length-prefixed gRPC message (flag 0: not compressed; big-endian length). */
function grpcFrame(request: caProto.IstioCertificateRequest): Buffer {
  const message = caProto.IstioCertificateRequest.encode(request).finish();
  const body = Buffer.alloc(5 + message.length);
  body.writeUInt32BE(message.length, 1);
  body.set(message, 5);
  return body;
}

/** grpc-js's generated client: what a Node workload would use. */
function grpcJsClient(
  address: string,
  trust: Buffer,
  token: string,
  request: caProto.IstioCertificateRequest,
): LoadClient {
  const client = new caProto.IstioCertificateServiceClient(address, grpc.credentials.createSsl(trust), {
    'grpc.ssl_target_name_override': 'localhost',
  });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return {
    send: (done) => client.createCertificate(request, metadata, (err) => done(err ?? undefined)),
    close: () => client.close(),
  };
}

/**
 * The same call as bare HTTP/2 (node:http2) frames: a length-prefixed request encoded once, and the answer's
 * grpc-status read from the trailers. gRPC on the wire as any client speaks it (Istio's agent is Go), without
 * grpc-js's per-call client machinery, whose own garbage collections otherwise land in the client-side
 * percentiles. The first answer is decoded and checked to be a certificate chain.
 */
async function http2Client(
  address: string,
  trust: Buffer,
  token: string,
  request: caProto.IstioCertificateRequest,
): Promise<LoadClient> {
  const body = grpcFrame(request);
  const session = http2.connect(`https://${address}`, { ca: trust, servername: 'localhost' });
  await new Promise<void>((resolve, reject) =>
    session.once('connect', () => resolve()).once('error', reject),
  );
  const headers = {
    ':method': 'POST',
    ':path': CREATE_CERTIFICATE_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    authorization: `Bearer ${token}`,
  };
  let checked = false;
  return {
    send(done) {
      const stream = session.request(headers);
      let status: string | undefined;
      let message: string | undefined;
      const chunks: Buffer[] = [];
      const onStatus = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      stream.on('response', onStatus);
      stream.on('trailers', onStatus);
      stream.on('data', (chunk: Buffer) => {
        if (!checked) chunks.push(chunk);
      });
      stream.on('error', (err) => done(err));
      stream.on('close', () => {
        if (status !== '0')
          return done(new Error(`CreateCertificate: grpc-status ${status}: ${message ?? ''}`));
        if (!checked) {
          const answer = Buffer.concat(chunks);
          const chain = caProto.IstioCertificateResponse.decode(answer.subarray(5)).certChain;
          if (chain.length < 2)
            return done(new Error(`CreateCertificate answered ${chain.length} certificates`));
          checked = true;
        }
        done();
      });
      stream.end(body);
    },
    close: () => session.close(),
  };
}

/**
 * Connections h2load spreads the rate over, as a fleet of agents would (each agent has its own); default 10,
 * CITADEL_BENCH_H2LOAD_CONNECTIONS to change.
 */
const H2LOAD_CONNECTIONS = Number(process.env.CITADEL_BENCH_H2LOAD_CONNECTIONS ?? 10);
const H2LOAD_WARM_UP_US = 1_000_000;

/**
 * h2load (nghttp2's HTTP/2 load generator, written in C; Debian's nghttp2-client) sending the same gRPC request at
 * a fixed rate (--rps per connection, paced by its own timer, open loop up to 64 streams per connection) over
 * H2LOAD_CONNECTIONS TLS connections. Its client costs a few microseconds per request, so on this two-core machine
 * it leaves citadel the core a fleet of remote agents would. Latencies are its per-request log (start to end of
 * response). h2load does not read grpc-status: the caller checks citadel's own count of OK answers.
 * Undefined when h2load is not installed.
 */
async function h2loadRun(
  dir: string,
  address: string,
  token: string,
  request: caProto.IstioCertificateRequest,
  rate: number,
  total: number,
): Promise<{ latencies: Float64Array; elapsed: number; note: string } | undefined> {
  if (spawnSync('h2load', ['--version']).error) return undefined;
  const bodyFile = join(dir, 'h2load-request.bin');
  const logFile = join(dir, 'h2load-log.tsv');
  writeFileSync(bodyFile, grpcFrame(request));
  const started = Date.now();
  // Not spawnSync: this process must keep reading citadel's GC log meanwhile, or citadel blocks on a full pipe.
  const child = spawn(
    'h2load',
    [
      `https://${address}${CREATE_CERTIFICATE_PATH}`,
      ...['-d', bodyFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers'],
      ...['-H', `authorization: Bearer ${token}`],
      ...['-c', String(H2LOAD_CONNECTIONS), '-m', '64', '-n', String(total)],
      ...['--rps', String(rate / H2LOAD_CONNECTIONS), '--log-file', logFile],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const elapsed = (Date.now() - started) / 1000;
  if (status !== 0) throw new Error(`h2load failed (${status}): ${output}`);
  const rows = readFileSync(logFile, 'utf8').trim().split('\n');
  if (rows.length !== total) throw new Error(`h2load logged ${rows.length} requests of ${total}`);
  const parsed = rows.map((row) => {
    const [start, code, micros] = row.split('\t');
    if (code !== '200') throw new Error(`h2load: a request ended with HTTP status ${code}: ${row}`);
    return { start: Number(start), ms: Number(micros) / 1000 };
  });
  // The first second is the connections' warm-up (ten TLS handshakes at once, h2load's ramp), as the Node
  // clients' 200 calls before their run are; it is left out of the percentiles and its p99 reported apart.
  const first = Math.min(...parsed.map((r) => r.start));
  const warm = parsed.filter((r) => r.start - first >= H2LOAD_WARM_UP_US);
  const cold = parsed.filter((r) => r.start - first < H2LOAD_WARM_UP_US);
  const latencies = Float64Array.from(warm, (r) => r.ms);
  const all = Float64Array.from(parsed, (r) => r.ms).sort();
  return {
    latencies,
    elapsed,
    note:
      `the first second's ${cold.length} requests left out as warm-up; ` +
      `with them p99 ${percentile(all, 99).toFixed(2)} ms`,
  };
}

/** citadel's flotilla_citadel_csr_requests_total by code. */
async function csrCounts(monitoringPort: number): Promise<Map<string, number>> {
  const metrics = await (await fetch(`http://127.0.0.1:${monitoringPort}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    const m = /^flotilla_citadel_csr_requests_total\{code="([^"]+)"\} (\S+)$/.exec(line);
    if (m) counts.set(m[1], Number(m[2]));
  }
  return counts;
}

async function overGrpc(rate: number, seconds: number, kind: ClientKind): Promise<void> {
  const dir = tempDir('flotilla-bench-citadel-grpc-');
  const [grpcPort, monitoringPort] = await freePorts(2);
  const token = signLocalToken(loadOrCreateTokenKey(dir), { namespace: 'default', serviceAccount: 'bench' });
  const child = spawn(
    process.execPath,
    [
      // citadel's young generation as deployed (flotilla up, deploy/docker, deploy/k8s); later flags win, e.g.
      // CITADEL_BENCH_NODE_ARGS="--max-semi-space-size=16" for V8's default, or "--cpu-prof --cpu-prof-dir=/tmp/prof".
      '--max-semi-space-size=4',
      ...(process.env.CITADEL_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      // One line per garbage collection on stdout, summarised below: pauses are the tail's usual suspect.
      '--trace-gc-nvp',
      join(__dirname, '..', '..', 'apps', 'citadel', 'dist', 'main.js'),
      '--state-dir',
      dir,
      '--host',
      '127.0.0.1',
      '--grpc-port',
      String(grpcPort),
      '--monitoring-port',
      String(monitoringPort),
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OTEL_SDK_DISABLED: 'true' } },
  );
  const gc = new GcLog();
  createInterface({ input: child.stdout! }).on('line', (line) => gc.add(line));
  try {
    await waitFor(
      'citadel to be ready',
      async () => (await fetch(`http://127.0.0.1:${monitoringPort}/ready`).catch(() => undefined))?.ok,
      30_000,
    );
    const trust = readFileSync(join(dir, 'trust-bundle.pem'));
    const request = { csr: opensslCsr(dir, 'bench', { uris: [ID] }), validityDuration: 0, metadata: {} };
    const address = `127.0.0.1:${grpcPort}`;
    const client =
      kind === 'grpc-js'
        ? grpcJsClient(address, trust, token, request)
        : await http2Client(address, trust, token, request);
    const call = () =>
      new Promise<void>((resolve, reject) => client.send((err) => (err ? reject(err) : resolve())));
    for (let i = 0; i < 200; i++) await call(); // warm-up (TLS session, JIT); the first answer is checked
    const total = rate * seconds;
    let latencies: Float64Array;
    let elapsed: number;
    let note = '';
    if (kind === 'h2load') {
      client.close();
      const before = await csrCounts(monitoringPort);
      gc.measuring = true;
      const run = await h2loadRun(dir, address, token, request, rate, total);
      gc.measuring = false;
      if (!run) {
        console.log(
          `\nh2load is not installed (apt-get install nghttp2-client): its run at ${rate}/s skipped`,
        );
        return;
      }
      const after = await csrCounts(monitoringPort);
      for (const [code, n] of after) {
        const added = n - (before.get(code) ?? 0);
        if (code !== 'OK' && added > 0)
          throw new Error(`h2load run: citadel answered ${added} calls ${code}`);
      }
      const ok = (after.get('OK') ?? 0) - (before.get('OK') ?? 0);
      if (ok !== total) throw new Error(`h2load run: citadel answered ${ok} calls OK of ${total}`);
      ({ latencies, elapsed, note } = run);
    } else {
      ({ latencies, elapsed } = await openLoop(client, rate, total, gc));
      client.close();
    }
    const sorted = latencies.sort();
    // Citadel's own histogram: time from the call reaching the handler to the answer (no client queueing).
    const metrics = await (await fetch(`http://127.0.0.1:${monitoringPort}/metrics`)).text();
    const bucket = (le: string) => {
      const prefix = `flotilla_citadel_csr_duration_seconds_bucket{le="${le}"} `;
      return Number(
        metrics
          .split('\n')
          .find((l) => l.startsWith(prefix))
          ?.slice(prefix.length) ?? NaN,
      );
    };
    const served = bucket('+Inf');
    console.log(
      `\nCreateCertificate over gRPC+TLS to a citadel process, ${describeClient(kind)}, offered ${rate}/s for ${seconds}s ` +
        `(${Math.round(total / elapsed)}/s achieved):\n` +
        `  p50 ${percentile(sorted, 50).toFixed(2)} ms  p90 ${percentile(sorted, 90).toFixed(2)} ms  ` +
        `p99 ${percentile(sorted, 99).toFixed(2)} ms  max ${sorted[sorted.length - 1].toFixed(2)} ms (client-side; ` +
        `load average ${loadavg()[0].toFixed(2)}${note ? `; ${note}` : ''})\n` +
        `  server-side (citadel's histogram, ${served} calls incl. warm-up): ` +
        `${((100 * bucket('0.002')) / served).toFixed(1)}% ≤ 2 ms, ${((100 * bucket('0.01')) / served).toFixed(2)}% ≤ 10 ms\n` +
        `  citadel's GC during the run: ${gc.summary(total)}`,
    );
  } finally {
    child.kill('SIGTERM');
  }
}

function describeClient(kind: ClientKind): string {
  return kind === 'h2load' ? `h2load client (${H2LOAD_CONNECTIONS} connections)` : `${kind} client`;
}

/**
 * Open loop: requests are sent on schedule whether or not earlier ones have answered. Each latency goes into a
 * preallocated array: keeping a promise per call alive until the end made the client's own scavenges copy
 * megabytes of them (7 ms pauses, in the client's percentiles) on the cores citadel uses.
 */
async function openLoop(
  client: LoadClient,
  rate: number,
  total: number,
  gc: GcLog,
): Promise<{ latencies: Float64Array; elapsed: number }> {
  const latencies = new Float64Array(total);
  let answered = 0;
  let failure: Error | undefined;
  let allAnswered!: () => void;
  const finished = new Promise<void>((resolve) => (allAnswered = resolve));
  const send = (i: number) => {
    const t0 = performance.now();
    client.send((err) => {
      latencies[i] = performance.now() - t0;
      failure ??= err;
      if (++answered === total) allAnswered();
    });
  };
  const start = Date.now();
  gc.measuring = true;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    send(i);
  }
  await finished;
  gc.measuring = false;
  if (failure) throw failure;
  return { latencies, elapsed: (Date.now() - start) / 1000 };
}

async function main(): Promise<void> {
  // CITADEL_BENCH_IN_PROCESS=false runs only the gRPC part.
  if (process.env.CITADEL_BENCH_IN_PROCESS !== 'false') await inProcess();
  const rates = (process.env.CITADEL_BENCH_RATES ?? '300,1000').split(',').map(Number);
  const clients = (process.env.CITADEL_BENCH_CLIENTS ?? 'grpc-js,http2,h2load').split(',') as ClientKind[];
  for (const rate of rates) {
    for (const kind of clients) await overGrpc(rate, Number(process.env.CITADEL_BENCH_SECONDS ?? 5), kind);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

// The sample mesh: `flotilla up` without --no-samples runs apps/bookinfo, whose proxyless gRPC workloads call each
// other as xds:/// targets through pilot, on the ports examples/bookinfo's WorkloadEntries name (19080–19084), and
// prints requests per reviews version. The example's VirtualService sends 80% to v1 and 20% to v2. Each workload
// has its own mesh agent and certificate from citadel and serves only mTLS; each checks its calls with mixer
// (examples/bookinfo/mixer.yaml denies x-user: banned) and reports them to mixer's prometheus adapter.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { FileRootStore, createSoftwareRoot } from '@flotilla/pki';
import { ca } from '@flotilla/proto';
import { opensslCsr, tempDir, waitFor } from '@flotilla/testing';
import { FLOTILLA_BIN, LocalMesh } from './support';
import type { Endpoints } from './support';

const SAMPLE_PORTS = [19080, 19081, 19082, 19083, 19084];
const PRODUCTPAGE = '127.0.0.1:19080';
const PRODUCTPAGE_ID = 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage';
const CALLER_ID = 'spiffe://cluster.local/ns/bookinfo/sa/e2e-client';

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface Summary {
  requests: number;
  v1: number;
  v2: number;
  errors: number;
}

function summaries(output: readonly string[]): Summary[] {
  const out: Summary[] = [];
  for (const line of output) {
    const m = /traffic \(\d+s\): (\d+) requests to productpage(.*), (\d+) errors?$/.exec(line);
    if (!m) continue;
    const count = (v: string) => Number(new RegExp(`reviews-${v} (\\d+)`).exec(m[2])?.[1] ?? 0);
    out.push({ requests: Number(m[1]), v1: count('v1'), v2: count('v2'), errors: Number(m[3]) });
  }
  return out;
}

/** A workload identity of our own, the way a user gets one: `flotilla token`, an openssl CSR, CreateCertificate. */
async function meshIdentity(state: string, e: Endpoints): Promise<{ key: Buffer; chain: Buffer }> {
  const token = execFileSync(
    process.execPath,
    [FLOTILLA_BIN, 'token', '--state', state, '--namespace', 'bookinfo', '--service-account', 'e2e-client'],
    { encoding: 'utf8' },
  ).trim();
  const dir = tempDir('flotilla-e2e-samples-');
  const csr = opensslCsr(dir, 'client', { uris: [CALLER_ID] });
  const client = new ca.IstioCertificateServiceClient(
    e.citadel.grpc,
    grpc.credentials.createSsl(readFileSync(e.citadel.rootCert)),
    { 'grpc.ssl_target_name_override': 'localhost' },
  );
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const chain = await new Promise<string[]>((resolve, reject) =>
    client.createCertificate(
      { csr, validityDuration: 3600, metadata: {} },
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.certChain);
      },
    ),
  );
  return { key: readFileSync(`${dir}/client.key`), chain: Buffer.from(chain.join('')) };
}

/**
 * The samples' one method, /flotilla.bookinfo.Bookinfo/Call, with empty bodies, on one workload's port; resolves
 * with the text answer. TLS names the service as a mesh client would (SNI), not the IP address.
 */
function callSample(
  address: string,
  credentials: grpc.ChannelCredentials,
  headers: Record<string, string> = {},
): Promise<string> {
  const client = new grpc.Client(address, credentials, {
    'grpc.ssl_target_name_override': 'productpage.bookinfo.svc.cluster.local',
  });
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  const bytes = (b: Buffer) => b;
  return new Promise<string>((resolve, reject) =>
    client.makeUnaryRequest(
      '/flotilla.bookinfo.Bookinfo/Call',
      bytes,
      bytes,
      Buffer.alloc(0),
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res!.toString());
      },
    ),
  );
}

function callProductpage(credentials: grpc.ChannelCredentials, headers: Record<string, string> = {}) {
  return callSample(PRODUCTPAGE, credentials, headers);
}

/** istio_requests_total samples of the prometheus adapter, keyed by their label text. */
function requestCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^istio_requests_total\{([^}]*)\} (\S+)$/gm)) counts.set(m[1], Number(m[2]));
  return counts;
}

describe('flotilla up with the sample mesh', () => {
  let mesh: LocalMesh | undefined;
  let e: Endpoints;

  beforeAll(async () => {
    for (const port of SAMPLE_PORTS) {
      if (!(await isPortFree(port))) throw new Error(`port ${port} (a bookinfo sample) is in use`);
    }
    mesh = await LocalMesh.start([], undefined, undefined, true);
    e = await waitFor('endpoints.json', () => mesh!.readEndpoints(), 30_000);
  });

  afterAll(async () => {
    await mesh?.stop('SIGKILL');
  });

  it('runs bookinfo over mTLS routed by pilot and prints the 80/20 split per reviews version', async () => {
    const seen = await waitFor(
      'two traffic summaries with requests',
      () => {
        const s = summaries(mesh!.output).filter((x) => x.requests > 0);
        return s.length >= 2 ? s : undefined;
      },
      60_000,
      200,
    );
    const v1 = seen.reduce((n, s) => n + s.v1, 0);
    const v2 = seen.reduce((n, s) => n + s.v2, 0);
    expect(seen.every((s) => s.errors === 0)).toBe(true);
    expect(v1 + v2).toBeGreaterThan(50);
    // 80/20 with room for chance: v1 well ahead, v2 clearly present.
    expect(v1 / (v1 + v2)).toBeGreaterThan(0.65);
    expect(v2 / (v1 + v2)).toBeGreaterThan(0.05);
    expect(mesh!.output.join('\n')).toContain('(mTLS, mixer at ');
  });

  it('serves only mTLS: plaintext is refused, a citadel identity is answered by productpage’s own identity', async () => {
    for (const port of SAMPLE_PORTS) {
      await expect(callSample(`127.0.0.1:${port}`, grpc.credentials.createInsecure())).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    }
    const root = readFileSync(e.citadel.rootCert);
    const anyServer = { checkServerIdentity: () => undefined };
    await expect(
      callProductpage(grpc.credentials.createSsl(root, null, null, anyServer)),
    ).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });

    const { key, chain } = await meshIdentity(mesh!.stateDir, e);
    const serverIds: string[] = [];
    const recordServer = (_host: string, cert: PeerCertificate) => {
      serverIds.push(cert.subjectaltname ?? '');
      return undefined;
    };
    const answer = await callProductpage(
      grpc.credentials.createSsl(root, key, chain, { checkServerIdentity: recordServer }),
    );
    expect(answer).toMatch(/^productpage-v1\(details-v1,reviews-v[12]/);
    expect(serverIds).toEqual([`URI:${PRODUCTPAGE_ID}`]);
    expect(new X509Certificate(chain).subjectAltName).toBe(`URI:${CALLER_ID}`);
  });

  it('denies x-user: banned at productpage with PERMISSION_DENIED from mixer’s rule, and lets others through', async () => {
    const { key, chain } = await meshIdentity(mesh!.stateDir, e);
    const mtls = () =>
      grpc.credentials.createSsl(readFileSync(e.citadel.rootCert), key, chain, {
        checkServerIdentity: () => undefined,
      });
    await expect(callProductpage(mtls(), { 'x-user': 'banned' })).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: 'this user is banned from bookinfo',
    });
    expect(await callProductpage(mtls(), { 'x-user': 'jason' })).toMatch(/^productpage-v1\(/);
  });

  it('reports every sample call to mixer: its prometheus adapter counts them per service, the denial as 403', async () => {
    const services = ['productpage', 'details', 'reviews', 'ratings'].map(
      (s) => `${s}.bookinfo.svc.cluster.local`,
    );
    const counts = await waitFor(
      'istio_requests_total for every sample service and the denied call',
      async () => {
        const c = requestCounts(await (await fetch(e.mixer.prometheus)).text());
        const label = (service: string, code: number) =>
          `destination_service="${service}",response_code="${code}",source_workload="unknown"`;
        const ok = services.every((s) => (c.get(label(s, 200)) ?? 0) > 0);
        const denied = c.get(label(services[0], 403)) ?? 0;
        return ok && denied >= 1 && { c, label };
      },
      15_000,
      500,
    );
    // productpage answers the traffic loop and the test's calls: it has seen at least the loop's 50 requests.
    expect(counts.c.get(counts.label(services[0], 200))).toBeGreaterThan(50);
    expect(counts.c.get(counts.label(services[0], 403))).toBe(1);
    execFileSync('promtool', ['check', 'metrics'], { input: await (await fetch(e.mixer.prometheus)).text() });
  });

  it('stops the samples with the mesh on SIGINT and exits 0', async () => {
    expect(await mesh!.stop()).toBe(0);
    for (const port of SAMPLE_PORTS) expect(await isPortFree(port)).toBe(true);
  });
});

describe('flotilla up with the sample mesh, through a root rotation', () => {
  let mesh: LocalMesh | undefined;
  const state = tempDir('flotilla-e2e-rotation-');
  const citadelState = join(state, 'citadel');

  beforeAll(async () => {
    for (const port of SAMPLE_PORTS) {
      if (!(await isPortFree(port))) throw new Error(`port ${port} (a bookinfo sample) is in use`);
    }
    // A root that comes due (20% of its life left) about 35 s from now and expires some 107 s from now: citadel
    // starts with it, the samples get their certificates under it, and then citadel rotates it while they run.
    await new FileRootStore(citadelState).save(
      await createSoftwareRoot('cluster.local', Date.now() - 193_000, 300_000),
    );
    const saved = process.env.FLOTILLA_ROOT_ROTATION_CHECK_INTERVAL;
    process.env.FLOTILLA_ROOT_ROTATION_CHECK_INTERVAL = '0.5s';
    try {
      mesh = await LocalMesh.start([], undefined, state, true);
    } finally {
      if (saved === undefined) delete process.env.FLOTILLA_ROOT_ROTATION_CHECK_INTERVAL;
      else process.env.FLOTILLA_ROOT_ROTATION_CHECK_INTERVAL = saved;
    }
  });

  afterAll(async () => {
    await mesh?.stop('SIGKILL');
  });

  it('the workloads follow the new trust bundle at once: new certificates under the new root, traffic without errors', async () => {
    const oldRoot = readFileSync(join(citadelState, 'root-cert.pem'), 'utf8');
    const output = mesh!.output;
    await waitFor(
      'a traffic summary with requests',
      () => summaries(output).some((s) => s.requests > 0),
      60_000,
    );
    expect(output.some((l) => /root rotated/.test(l))).toBe(false);

    await waitFor('citadel to rotate its root', () => output.some((l) => /root rotated/.test(l)), 60_000);
    await waitFor(
      'the samples to see the new trust bundle',
      () => output.some((l) => /trust bundle .* changed; rotating every workload certificate/.test(l)),
      20_000,
    );
    await waitFor(
      'pilot to renew its secure xDS certificate',
      () => output.some((l) => /trust bundle changed; renewing the secure xDS certificate/.test(l)),
      20_000,
    );
    // The summary that spans the switch may count calls made while peers were between certificates; the two
    // after it may not.
    const seen = summaries(output).length;
    const after = await waitFor(
      'two full summaries after the switch',
      () => {
        const s = summaries(output).slice(seen + 1);
        return s.length >= 2 ? s : undefined;
      },
      30_000,
    );
    for (const s of after) expect(s).toMatchObject({ errors: 0 });
    expect(after.every((s) => s.requests > 0)).toBe(true);

    const newRoot = readFileSync(join(citadelState, 'root-cert.pem'), 'utf8');
    expect(newRoot).not.toBe(oldRoot);
    const dir = tempDir('flotilla-e2e-rotation-check-');
    const newRootFile = join(dir, 'new-root.pem');
    writeFileSync(newRootFile, newRoot);
    for (const workload of ['productpage-v1', 'reviews-v2', 'ratings-v1']) {
      const certDir = join(state, 'bookinfo', workload);
      const leaf = join(dir, `${workload}.pem`);
      writeFileSync(leaf, readFileSync(join(certDir, 'cert-chain.pem')));
      expect(
        execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', newRootFile, leaf], {
          encoding: 'utf8',
        }).trim(),
      ).toBe(`${leaf}: OK`);
      // Their trust bundle holds both roots while the old one is valid.
      const trusted = readFileSync(join(certDir, 'root-cert.pem'), 'utf8');
      expect(trusted).toContain(newRoot.trim());
      expect(trusted).toContain(oldRoot.trim());
    }
  }, 150_000);
});

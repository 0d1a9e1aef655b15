// The sample mesh: `flotilla up` without --no-samples runs apps/bookinfo, whose proxyless gRPC workloads call each
// other as xds:/// targets through pilot, on the ports examples/bookinfo's WorkloadEntries name (19080–19084), and
// prints requests per reviews version. The example's VirtualService sends 80% to v1 and 20% to v2.
import { createServer } from 'node:net';
import { waitFor } from '@flotilla/testing';
import { LocalMesh } from './support';

const SAMPLE_PORTS = [19080, 19081, 19082, 19083, 19084];

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

describe('flotilla up with the sample mesh', () => {
  let mesh: LocalMesh | undefined;

  afterAll(async () => {
    await mesh?.stop();
  });

  it('runs bookinfo routed by pilot and prints the 80/20 split per reviews version', async () => {
    for (const port of SAMPLE_PORTS) {
      if (!(await isPortFree(port))) throw new Error(`port ${port} (a bookinfo sample) is in use`);
    }
    mesh = await LocalMesh.start([], undefined, undefined, true);
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
    expect(await mesh.stop()).toBe(0);
  });
});

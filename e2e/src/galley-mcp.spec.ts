import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { McpSink, unpackJsonBody } from '@flotilla/mcp';
import type { McpResource } from '@flotilla/mcp';
import { createLogger } from '@flotilla/service-kit';
import { freePorts, tempDir, waitFor } from '@flotilla/testing';
import { WORKSPACE_ROOT } from './support';

const VS = 'networking.istio.io/v1alpha3/VirtualService';
const SE = 'networking.istio.io/v1alpha3/ServiceEntry';

interface RouteSpec {
  http: { route?: { weight?: number }[] }[];
}

function weights(resources: McpResource[] | undefined): number[] {
  const reviews = resources?.find((r) => r.name === 'bookinfo/reviews');
  if (!reviews) return [];
  const spec = unpackJsonBody(reviews.body) as unknown as RouteSpec;
  return spec.http[1].route!.map((r) => r.weight ?? 0);
}

describe('galley serves a config folder over MCP to a real sink', () => {
  let galley: ChildProcess;
  let sink: McpSink;
  let dir: string;
  let monitoring: number;
  const latest = new Map<string, McpResource[]>();
  const changes: { collection: string; at: number }[] = [];

  beforeAll(async () => {
    dir = tempDir('galley-e2e-');
    cpSync(join(WORKSPACE_ROOT, 'examples', 'bookinfo'), dir, { recursive: true });
    const [grpc, mon] = await freePorts(2);
    monitoring = mon;
    galley = spawn(
      process.execPath,
      [
        join(WORKSPACE_ROOT, 'apps/galley/dist/main.js'),
        '--host',
        '127.0.0.1',
        '--grpc-port',
        String(grpc),
        '--monitoring-port',
        String(mon),
        '--config-dir',
        dir,
        '--log-level',
        'warn',
      ],
      { stdio: 'ignore' },
    );
    sink = new McpSink({
      address: `127.0.0.1:${grpc}`,
      node: { id: 'e2e-sink' },
      collections: [VS, SE],
      logger: createLogger('e2e', 'silent'),
      backoff: { initialMs: 50, maxMs: 500 },
    });
    sink.on('change', (collection, resources) => {
      latest.set(collection, resources);
      changes.push({ collection, at: Date.now() });
    });
    sink.start();
    await waitFor('the first snapshot', () => latest.get(SE)?.length === 4 && latest.get(VS)?.length === 1);
  });

  afterAll(async () => {
    sink?.stop();
    galley?.kill('SIGTERM');
    await new Promise((r) => galley?.once('exit', r));
  });

  const routing = () => join(dir, 'routing.yaml');
  const configz = async () =>
    (await (await fetch(`http://127.0.0.1:${monitoring}/debug/configz`)).json()) as {
      rejections: { origin: string; message: string; keptLastGood: boolean }[];
    };

  it('delivers the bookinfo ServiceEntries and VirtualService with their specs', () => {
    expect(
      latest
        .get(SE)!
        .map((r) => r.name)
        .sort(),
    ).toEqual(['bookinfo/details', 'bookinfo/productpage', 'bookinfo/ratings', 'bookinfo/reviews']);
    expect(weights(latest.get(VS))).toEqual([80, 20]);
  });

  it('pushes an edited file to the sink', async () => {
    const edited = readFileSync(routing(), 'utf8')
      .replace('weight: 80', 'weight: 50')
      .replace('weight: 20', 'weight: 50');
    const before = changes.length;
    const written = Date.now();
    writeFileSync(routing(), edited);
    await waitFor('the edit at the sink', () => weights(latest.get(VS)).join() === '50,50');
    const arrival = changes.slice(before).find((c) => c.collection === VS)!.at;
    // Delivery, not speed, is asserted here; bench/galley measures the latency.
    expect(arrival).toBeGreaterThanOrEqual(written);
  });

  it('keeps the last good VirtualService when its file breaks, and reports the file', async () => {
    const good = readFileSync(routing(), 'utf8');
    writeFileSync(routing(), good + '\n---\nkind: [unclosed\n');
    await waitFor('the rejection in configz', async () => (await configz()).rejections.length > 0);
    const [rejection] = (await configz()).rejections;
    expect(rejection).toMatchObject({ origin: 'routing.yaml', keptLastGood: true });
    expect(weights(latest.get(VS))).toEqual([50, 50]);
    writeFileSync(routing(), good);
    await waitFor('the repaired file', async () => (await configz()).rejections.length === 0);
  });

  it('refuses an invalid change to a resource and keeps serving its last good version', async () => {
    const good = readFileSync(routing(), 'utf8');
    writeFileSync(routing(), good.replace('timeout: 2s', 'timeout: soon'));
    await waitFor('the rejection in configz', async () => (await configz()).rejections.length > 0);
    const [rejection] = (await configz()).rejections;
    expect(rejection.message).toMatch(/timeout/);
    expect(rejection.keptLastGood).toBe(true);
    expect(weights(latest.get(VS))).toEqual([50, 50]);
  });
});

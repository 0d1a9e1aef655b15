// One changed object in a large collection, from galley's MCP server to a sink (pilot's side), over state of the
// world (the whole collection resent, decoded and hashed again) and over delta (the changed object alone). Both
// run in the same process, alternating round by round, so noise hits them alike; the ratio is delta's p50 over
// SotW's. Size from BENCH_OBJECTS (default 2,000 WorkloadEntries), rounds from BENCH_ROUNDS (default 40).
import { performance } from 'node:perf_hooks';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { McpServer, McpSink, mcpResourceOf } from '@flotilla/mcp';
import type { McpResource } from '@flotilla/mcp';
import { createLogger } from '@flotilla/service-kit';
import { percentile } from './harness';

const COLLECTION = 'networking.istio.io/v1alpha3/WorkloadEntry';
const OBJECTS = Number(process.env.BENCH_OBJECTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const logger = createLogger('bench', 'silent');

function workloadEntry(i: number, address: string, version: string): McpResource {
  return mcpResourceOf({
    namespace: 'bench',
    name: `svc-${i}-v2`,
    version,
    spec: { address, ports: { grpc: 8080 }, labels: { app: `svc-${i}`, version: 'v2' }, locality: 'r1/z1' },
  });
}

/** A galley MCP server holding the collection, and a sink of the given protocol following it. */
async function pair(mode: 'sotw' | 'delta') {
  const mcp = new McpServer({ logger, debounce: { afterMs: 0 } });
  const objects = Array.from({ length: OBJECTS }, (_, i) =>
    workloadEntry(i, `10.0.${i >> 8}.${i & 255}`, '1'),
  );
  mcp.setCollection(COLLECTION, objects);
  const server = new Server();
  server.addService(mcp.definition, mcp.implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const sink = new McpSink({
    address: `127.0.0.1:${port}`,
    node: { id: `bench-${mode}` },
    collections: [COLLECTION],
    mode,
    logger,
  });
  sink.start();
  await sink.waitForSync();
  return {
    mode,
    /** Changes object 0 and resolves with the ms until the sink has the new collection. */
    change(round: number): Promise<number> {
      objects[0] = workloadEntry(0, `10.9.${round >> 8}.${round & 255}`, `r${round}`);
      const started = performance.now();
      const delivered = new Promise<number>((resolve) =>
        sink.once('change', () => resolve(performance.now() - started)),
      );
      mcp.setCollection(COLLECTION, [...objects]);
      return delivered;
    },
    stop(): void {
      sink.stop();
      mcp.ads.close();
      server.forceShutdown();
    },
  };
}

async function main(): Promise<void> {
  const sides = [await pair('sotw'), await pair('delta')];
  const times = new Map<string, number[]>(sides.map((s) => [s.mode, []]));
  for (let round = 0; round < ROUNDS + 5; round++) {
    for (const side of sides) {
      const ms = await side.change(round);
      // The first rounds warm both paths up and are not counted.
      if (round >= 5) times.get(side.mode)!.push(ms);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  for (const side of sides) side.stop();
  for (const measured of times.values()) measured.sort((a, b) => a - b);
  const p50 = (mode: string) => percentile(times.get(mode)!, 50);
  const p90 = (mode: string) => percentile(times.get(mode)!, 90);
  console.log(
    `MCP: one changed object in a collection of ${OBJECTS}, galley's server to a sink, ${ROUNDS} rounds`,
  );
  for (const mode of ['sotw', 'delta'])
    console.log(`  ${mode.padEnd(5)}  p50 ${p50(mode).toFixed(1)} ms, p90 ${p90(mode).toFixed(1)} ms`);
  console.log(`  delta ÷ SotW at p50: ${(p50('delta') / p50('sotw')).toFixed(2)}`);
}

void main().then(() => process.exit(0));

// Pilot's load simulator (issue 4, item 8), the same run as `flotilla bench pilot`: loaded from the CLI's build
// (apps/flotilla/dist; the target builds it and pilot first). Sizes from BENCH_SERVICES, BENCH_PROXIES; rounds
// from BENCH_ROUNDS and BENCH_WARMUP (made first, not counted); BENCH_EDS_DEBOUNCE=false runs pilot with
// --eds-debounce false.
import { resolve } from 'node:path';

interface PilotLoad {
  runPilotLoad(options: Record<string, unknown>): Promise<unknown>;
  formatPilotLoad(result: unknown): string;
}

const load = require(resolve(__dirname, '../../apps/flotilla/dist/bench/pilot-load.js')) as PilotLoad;

void load
  .runPilotLoad({
    services: Number(process.env.BENCH_SERVICES ?? 1000),
    proxies: Number(process.env.BENCH_PROXIES ?? 2000),
    targets: Number(process.env.BENCH_TARGETS ?? 5),
    rounds: Number(process.env.BENCH_ROUNDS ?? 5),
    warmupRounds: Number(process.env.BENCH_WARMUP ?? 2),
    debounceMs: 100,
    edsDebounce: process.env.BENCH_EDS_DEBOUNCE !== 'false',
    timeoutSeconds: 60,
    progress: (line: string) => process.stderr.write(`${line}\n`),
  })
  .then((result) => {
    console.log(load.formatPilotLoad(result));
    process.exit(0);
  });

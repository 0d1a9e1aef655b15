import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { appEntryPoint } from '../paths';
import { formatLine, painter } from './log-lines';
import { endpointsOf, meshComponents, portOptionOf, sampleArgs } from './mesh';
import type { MeshComponent, MeshPorts, MeshSettings } from './mesh';
import { grpcServing, httpReady, isPortFree } from './probes';
import { spawnSupervised, stopAll } from './supervisor';
import type { SupervisedProcess } from './supervisor';

export interface UpOptions extends MeshSettings {
  samples: boolean;
  /** Seconds to wait for every app to report healthy. */
  startTimeout: number;
}

/** A problem `up` reports as one line and exit code (2: bad input, 1: the mesh failed). */
export class UpError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

const STOP_GRACE_MS = 15_000;
const PROBE_INTERVAL_MS = 200;

interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * `flotilla up`: the local mesh without Docker. Checks its inputs and ports, starts the four apps as separate
 * processes, waits until every gRPC health check answers SERVING and every /ready answers 200, writes
 * <state>/endpoints.json and prints the endpoints, then runs until SIGINT/SIGTERM or until an app dies, and
 * stops everything it started. Resolves with the exit code.
 */
export async function up(options: UpOptions, output: Output = defaultOutput()): Promise<number> {
  const paint = painter(Boolean(process.stdout.isTTY) && !process.env.NO_COLOR);
  checkInputs(options);
  await checkPorts(options);

  const stateDir = resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const endpointsFile = join(stateDir, 'endpoints.json');
  rmSync(endpointsFile, { force: true });

  const components = meshComponents(options);
  const processes = components.map((c) =>
    spawnSupervised({
      name: c.name,
      script: appEntryPoint(c.name),
      args: c.args,
      nodeArgs: c.nodeArgs,
      onLine: (line) => output.out(formatLine(c.name, line, paint)),
    }),
  );

  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    output.out(`flotilla up: ${reason}; stopping the mesh`);
    // The samples first: they are the mesh's clients, and their last reports still need mixer.
    await stopAll(
      processes.filter((p) => p.name === 'bookinfo'),
      STOP_GRACE_MS,
    );
    await stopAll(processes, STOP_GRACE_MS);
    rmSync(endpointsFile, { force: true });
  };

  const died = Promise.race(processes.map((p) => p.exited.then((code) => ({ process: p, code }))));
  const signalled = new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal('SIGINT'));
    process.once('SIGTERM', () => resolveSignal('SIGTERM'));
  });

  const started = Date.now();
  const healthy = waitHealthy(options, components, output, paint, started);
  const first = await Promise.race([
    healthy.then((ok) => ({ kind: 'healthy' as const, ok })),
    died.then((d) => ({ kind: 'died' as const, ...d })),
    signalled.then((signal) => ({ kind: 'signal' as const, signal })),
  ]);
  if (first.kind === 'died') return failed(first.process, first.code, stop, output);
  if (first.kind === 'signal') {
    await stop(`${first.signal} received`);
    return 0;
  }
  if (!first.ok) {
    const waiting = await unhealthy(options, components);
    await stop(`not healthy within ${options.startTimeout}s: ${waiting.join(', ')}`);
    return 1;
  }

  const endpoints = endpointsOf(options);
  writeFileSync(endpointsFile, JSON.stringify(endpoints, null, 2) + '\n');
  output.out('');
  output.out(paint(1, `Flotilla local mesh is up (${((Date.now() - started) / 1000).toFixed(1)}s)`));
  output.out(endpointTable(endpoints));
  output.out(`endpoints: ${endpointsFile}`);
  output.out(`mesh config: ${resolve(options.configDir)}`);
  if (options.samples) startSamples(sampleArgs(options), processes, () => stopping, output, paint);
  output.out('Press Ctrl-C to stop.');

  const next = await Promise.race([
    died.then((d) => ({ kind: 'died' as const, ...d })),
    signalled.then((signal) => ({ kind: 'signal' as const, signal })),
  ]);
  if (next.kind === 'died') return failed(next.process, next.code, stop, output);
  await stop(`${next.signal} received`);
  return 0;
}

/**
 * The sample mesh: apps/bookinfo's proxyless gRPC workloads, on the ports of examples/bookinfo's WorkloadEntries,
 * dialing each other as xds:/// targets through pilot over mTLS, checked and reported by mixer, and printing
 * requests per reviews version. Supervised like the apps and stopped with them; unlike them, its exit does not
 * stop the mesh.
 */
function startSamples(
  args: string[],
  processes: SupervisedProcess[],
  stopping: () => boolean,
  output: Output,
  paint: ReturnType<typeof painter>,
): void {
  const script = appEntryPoint('bookinfo');
  if (!existsSync(script)) {
    output.out(`samples: ${script} is missing (build it: npx nx run bookinfo:build); running without them`);
    return;
  }
  const sample = spawnSupervised({
    name: 'bookinfo',
    script,
    args,
    onLine: (line) => output.out(formatLine('bookinfo', line, paint)),
  });
  processes.push(sample);
  void sample.exited.then((code) => {
    if (!stopping()) output.out(`samples: bookinfo exited (${code}); the mesh keeps running`);
  });
  output.out(
    'samples: bookinfo (productpage → details, reviews v1/v2 → ratings) routed by pilot over xDS, mTLS with ' +
      'certificates from citadel, checked and reported by mixer',
  );
}

function defaultOutput(): Output {
  return { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };
}

function checkInputs(options: UpOptions): void {
  const configDir = resolve(options.configDir);
  if (!existsSync(configDir) || !statSync(configDir).isDirectory()) {
    throw new UpError(`--config ${configDir}: not a directory`, 2);
  }
  for (const app of ['galley', 'pilot', 'mixer', 'citadel']) {
    if (!existsSync(appEntryPoint(app))) {
      throw new UpError(
        `${appEntryPoint(app)} is missing: build the apps first (npx nx run-many -t build)`,
        2,
      );
    }
  }
  const ports = Object.entries(options.ports) as [keyof MeshPorts, number][];
  const seen = new Map<number, keyof MeshPorts>();
  for (const [key, port] of ports) {
    const other = seen.get(port);
    if (other) throw new UpError(`${portOptionOf(key)} and ${portOptionOf(other)} are both ${port}`, 2);
    seen.set(port, key);
  }
}

async function checkPorts(options: UpOptions): Promise<void> {
  for (const [key, port] of Object.entries(options.ports) as [keyof MeshPorts, number][]) {
    if (!(await isPortFree(options.host, port))) {
      throw new UpError(
        `port ${port} on ${options.host} is already in use; choose another with ${portOptionOf(key)} ` +
          `(or stop what is listening there — another flotilla up?)`,
        1,
      );
    }
  }
}

async function isHealthy(options: UpOptions, component: MeshComponent): Promise<boolean> {
  const checks = [
    httpReady(`${options.host}:${options.ports[component.monitoringPort]}`, 1000),
    ...component.grpc.map((g) =>
      grpcServing(`${options.host}:${options.ports[g.port]}`, g.tlsRootCert, 1000),
    ),
  ];
  return (await Promise.all(checks)).every(Boolean);
}

async function unhealthy(options: UpOptions, components: MeshComponent[]): Promise<string[]> {
  const results = await Promise.all(components.map((c) => isHealthy(options, c)));
  return components.filter((_, i) => !results[i]).map((c) => c.name);
}

async function waitHealthy(
  options: UpOptions,
  components: MeshComponent[],
  output: Output,
  paint: ReturnType<typeof painter>,
  started: number,
): Promise<boolean> {
  const pending = new Set(components);
  output.out(`flotilla up: starting ${components.map((c) => c.name).join(', ')}…`);
  const deadline = started + options.startTimeout * 1000;
  while (pending.size > 0 && Date.now() < deadline) {
    await Promise.all(
      [...pending].map(async (c) => {
        if (await isHealthy(options, c)) {
          pending.delete(c);
          const seconds = ((Date.now() - started) / 1000).toFixed(1);
          output.out(`flotilla up: ${paint(32, '✓')} ${c.name} healthy (${seconds}s)`);
        }
      }),
    );
    if (pending.size > 0) await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
  }
  return pending.size === 0;
}

async function failed(
  p: SupervisedProcess,
  code: number | string,
  stop: (reason: string) => Promise<void>,
  output: Output,
): Promise<number> {
  await stop(`${p.name} exited (${code})`);
  const last = p.tail.filter((l) => /"level":"(fatal|error)"|error/i.test(l)).slice(-1)[0];
  if (last) output.err(`${p.name}: ${extractMessage(last)}`);
  return 1;
}

function extractMessage(line: string): string {
  try {
    const record = JSON.parse(line) as { msg?: string };
    return record.msg ?? line;
  } catch {
    return line;
  }
}

function endpointTable(endpoints: ReturnType<typeof endpointsOf>): string {
  const rows: [string, string, string][] = [];
  for (const [app, entries] of Object.entries(endpoints)) {
    for (const [kind, value] of Object.entries(entries)) rows.push([app, kind, value]);
  }
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map(([a, k, v]) => `  ${a.padEnd(widths[0])}  ${k.padEnd(widths[1])}  ${v}`).join('\n');
}

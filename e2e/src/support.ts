import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { health } from '@flotilla/proto';
import { freePorts, waitFor } from '@flotilla/testing';

export const WORKSPACE_ROOT = resolve(__dirname, '..', '..');
export const FLOTILLA_BIN = join(WORKSPACE_ROOT, 'apps', 'flotilla', 'bin', 'flotilla.js');

export const PORT_OPTIONS = [
  '--galley-grpc-port',
  '--galley-monitoring-port',
  '--pilot-xds-port',
  '--pilot-secure-xds-port',
  '--pilot-grpc-port',
  '--pilot-monitoring-port',
  '--mixer-grpc-port',
  '--mixer-monitoring-port',
  '--mixer-prometheus-port',
  '--citadel-grpc-port',
  '--citadel-monitoring-port',
] as const;

export interface Endpoints {
  galley: { grpc: string; metrics: string };
  pilot: { grpc: string; xds: string; secureXds: string; metrics: string; debug: string };
  mixer: { grpc: string; metrics: string; prometheus: string };
  citadel: { grpc: string; metrics: string; rootCert: string; trustBundle: string };
}

/** A `flotilla up` process on free ports, with its output collected. */
export class LocalMesh {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  private constructor(
    readonly process: ChildProcess,
    readonly stateDir: string,
    readonly portArgs: string[],
  ) {
    const collect = (chunk: Buffer) => this.output.push(...chunk.toString().split('\n'));
    process.stdout!.on('data', collect);
    process.stderr!.on('data', collect);
    this.exited = new Promise((r) => process.once('exit', (code) => r(code)));
  }

  static async start(
    extraArgs: string[] = [],
    portArgs?: string[],
    stateDir?: string,
    samples = false,
  ): Promise<LocalMesh> {
    const ports =
      portArgs ?? (await freePorts(PORT_OPTIONS.length)).flatMap((p, i) => [PORT_OPTIONS[i], String(p)]);
    const state = stateDir ?? mkdtempSync(join(tmpdir(), 'flotilla-e2e-'));
    const child = spawn(
      process.execPath,
      [FLOTILLA_BIN, 'up', '--state', state, ...(samples ? [] : ['--no-samples']), ...ports, ...extraArgs],
      {
        cwd: WORKSPACE_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    return new LocalMesh(child, state, ports);
  }

  get endpointsFile(): string {
    return join(this.stateDir, 'endpoints.json');
  }

  readEndpoints(): Endpoints | undefined {
    if (!existsSync(this.endpointsFile)) return undefined;
    return JSON.parse(readFileSync(this.endpointsFile, 'utf8')) as Endpoints;
  }

  /** PIDs of the app processes started for this mesh: they carry its unique gRPC ports on their command lines. */
  appPids(): number[] {
    const grpcPorts = ['galley', 'pilot', 'mixer', 'citadel'].map(
      (app) => this.portArgs[this.portArgs.indexOf(`--${app}-grpc-port`) + 1],
    );
    const pattern = `(^| )--grpc-port (${grpcPorts.join('|')})( |$)`;
    try {
      return execFileSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return []; // pgrep exits 1 when nothing matches
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    return this.exited;
  }
}

/** grpc.health.v1 Check of the whole server; TLS when a root certificate is given. */
export function healthStatus(address: string, rootCertPath?: string): Promise<number> {
  const credentials = rootCertPath
    ? grpc.credentials.createSsl(readFileSync(rootCertPath))
    : grpc.credentials.createInsecure();
  const options = rootCertPath ? { 'grpc.ssl_target_name_override': 'localhost' } : {};
  const client = new health.HealthClient(address, credentials, options);
  return new Promise((resolve, reject) => {
    client.check({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res.status);
    });
  });
}

/** A mixer process on `configDir` (config.istio.io YAML), resolved once its gRPC health check says SERVING. */
export async function startMixer(
  configDir: string,
  grpcPort: number,
  monitoringPort: number,
): Promise<{ child: ChildProcess; address: string; output: string[] }> {
  const address = `127.0.0.1:${grpcPort}`;
  const output: string[] = [];
  const child = spawn(
    process.execPath,
    [
      join(WORKSPACE_ROOT, 'apps', 'mixer', 'dist', 'main.js'),
      '--host',
      '127.0.0.1',
      '--grpc-port',
      String(grpcPort),
      '--monitoring-port',
      String(monitoringPort),
      '--config-dir',
      configDir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  child.stdout!.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => output.push(b.toString()));
  await waitFor(
    'mixer to serve',
    async () => (await healthStatus(address)) === health.HealthCheckResponse_ServingStatus.SERVING,
    20_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output.join('')}`);
  });
  return { child, address, output };
}

/** The flags that place an app on 127.0.0.1 with its gRPC and monitoring ports. */
export function appPortArgs(grpcPort: number, monitoringPort: number): string[] {
  return [
    '--host',
    '127.0.0.1',
    '--grpc-port',
    String(grpcPort),
    '--monitoring-port',
    String(monitoringPort),
    '--log-level',
    'warn',
  ];
}

/** Starts one app from its build as its own process; resolves once its /ready answers 200. */
export async function spawnApp(app: string, args: string[], monitoringPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(WORKSPACE_ROOT, 'apps', app, 'dist', 'main.js'), ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitFor(
      `${app} ready`,
      async () => (await fetch(`http://127.0.0.1:${monitoringPort}/ready`)).ok,
      30_000,
      100,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** galley serving a config folder and pilot following it, each its own process on free ports. */
export class GalleyAndPilot {
  private constructor(
    private readonly processes: ChildProcess[],
    /** pilot's plaintext xDS address. */
    readonly xds: string,
    /** pilot's monitoring and debug base URL. */
    readonly pilotDebug: string,
  ) {}

  static async start(configDir: string): Promise<GalleyAndPilot> {
    const [galleyGrpc, galleyMonitoring, pilotGrpc, pilotMonitoring, xds] = await freePorts(5);
    const galley = await spawnApp(
      'galley',
      [...appPortArgs(galleyGrpc, galleyMonitoring), '--config-dir', configDir],
      galleyMonitoring,
    );
    const pilot = await spawnApp(
      'pilot',
      [
        ...appPortArgs(pilotGrpc, pilotMonitoring),
        '--xds-port',
        String(xds),
        '--galley-address',
        `127.0.0.1:${galleyGrpc}`,
      ],
      pilotMonitoring,
    ).catch((err: unknown) => {
      galley.kill('SIGKILL');
      throw err;
    });
    return new GalleyAndPilot([galley, pilot], `127.0.0.1:${xds}`, `http://127.0.0.1:${pilotMonitoring}`);
  }

  stop(): void {
    for (const p of this.processes) p.kill('SIGKILL');
  }
}

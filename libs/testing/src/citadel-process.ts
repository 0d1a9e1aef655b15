import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from './ports';
import { waitFor } from './wait';

export interface CitadelProcess {
  /** citadel's gRPC address (TLS), 127.0.0.1:port. */
  address: string;
  /** The trust bundle it wrote on start. */
  rootPem: string;
  /** SIGTERM, and resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * A real citadel (its built entry point, `citadelMain`) on free loopback ports with `stateDir` as its state folder,
 * for specs of its clients; resolves once it has written its trust bundle (its gRPC port follows at once; callers
 * retry their first call).
 */
export async function startCitadelProcess(citadelMain: string, stateDir: string): Promise<CitadelProcess> {
  const [grpcPort, monitoringPort] = await freePorts(2);
  const child = spawn(
    process.execPath,
    [
      citadelMain,
      ...['--state-dir', stateDir, '--host', '127.0.0.1', '--log-level', 'warn'],
      ...['--grpc-port', String(grpcPort), '--monitoring-port', String(monitoringPort)],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const bundle = join(stateDir, 'trust-bundle.pem');
  const rootPem = await waitFor(
    'citadel’s trust bundle',
    () => existsSync(bundle) && readFileSync(bundle, 'utf8'),
  );
  return {
    address: `127.0.0.1:${grpcPort}`,
    rootPem,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

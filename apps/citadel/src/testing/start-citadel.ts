// Citadel's parts on free ports, wired as main() wires them, for the specs: they call `citadel.start()` themselves
// when they need rotation or distribution running.
import { join } from 'node:path';
import { createApp } from '@flotilla/service-kit';
import type { App, Logger } from '@flotilla/service-kit';
import { tempDir } from '@flotilla/testing';
import { TRUST_BUNDLE_FILE, buildCitadel, serveCitadel } from '../citadel';
import type { Citadel } from '../citadel';
import { citadelCommand } from '../options';
import type { CitadelOptions } from '../options';

export interface RunningCitadel {
  app: App;
  citadel: Citadel;
  options: CitadelOptions;
  /** The gRPC address, host:port. */
  address: string;
  /** The monitoring server's base URL (CRL, OCSP, trust bundle). */
  http: string;
  /** The trust bundle clients verify citadel with. */
  bundlePath: string;
}

/** What a spec may put in place of citadel's own: a logger to watch, the clock its intermediate checks read. */
export interface CitadelTestDeps {
  logger?: Logger;
  now?: () => number;
}

export async function startCitadel(
  args: string[] = [],
  stateDir = tempDir('flotilla-citadel-'),
  deps: CitadelTestDeps = {},
): Promise<RunningCitadel> {
  const options = citadelCommand()
    .exitOverride()
    .parse([
      'node',
      'citadel',
      '--state-dir',
      stateDir,
      '--host',
      '127.0.0.1',
      '--grpc-port',
      '0',
      '--monitoring-port',
      '0',
      '--log-level',
      'silent',
      ...args,
    ])
    .opts() as CitadelOptions;
  const citadel = await buildCitadel(options, deps.logger, deps.now);
  const app = createApp({ component: 'citadel', version: 'test', options, credentials: citadel.credentials });
  serveCitadel(app, citadel);
  await app.component.start();
  return {
    app,
    citadel,
    options,
    address: `127.0.0.1:${app.grpc.boundPort}`,
    http: `http://127.0.0.1:${app.monitoring.boundPort}`,
    bundlePath: join(stateDir, TRUST_BUNDLE_FILE),
  };
}

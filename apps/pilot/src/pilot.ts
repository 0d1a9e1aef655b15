import { createApp, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { pilotCommand } from './options';
import type { PilotOptions } from './options';
import { APP_VERSION } from './version';

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<PilotOptions>(pilotCommand(), argv);
  const app = createApp({
    component: 'pilot',
    version: APP_VERSION,
    options,
    extraGrpcServers: [{ name: 'xds', port: options.xdsPort, portOption: '--xds-port' }],
    onStop: () => tracing.shutdown(),
  });
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}

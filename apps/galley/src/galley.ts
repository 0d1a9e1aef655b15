import { createApp, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { galleyCommand } from './options';
import type { GalleyOptions } from './options';
import { APP_VERSION } from './version';

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<GalleyOptions>(galleyCommand(), argv);
  const app = createApp({
    component: 'galley',
    version: APP_VERSION,
    options,
    onStop: () => tracing.shutdown(),
  });
  app.logger.info({ configDir: options.configDir ?? null }, 'starting galley');
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}

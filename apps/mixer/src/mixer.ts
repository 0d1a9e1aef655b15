import { createApp, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { mixerCommand } from './options';
import type { MixerOptions } from './options';
import { APP_VERSION } from './version';

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<MixerOptions>(mixerCommand(), argv);
  const app = createApp({
    component: 'mixer',
    version: APP_VERSION,
    options,
    onStop: () => tracing.shutdown(),
  });
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}

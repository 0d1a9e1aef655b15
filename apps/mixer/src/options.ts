import { appCommand } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export type MixerOptions = CommonOptions;

export function mixerCommand(): Command {
  return appCommand(
    'mixer',
    'Flotilla mixer: precondition checks, quota and telemetry through adapters',
    APP_VERSION,
    {
      grpcPort: 9091,
      monitoringPort: 9093,
    },
  );
}

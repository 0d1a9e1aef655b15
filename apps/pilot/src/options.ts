import { appCommand, option, parsePort } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export interface PilotOptions extends CommonOptions {
  /** The plaintext xDS port: proxyless gRPC clients (grpc-js-xds) cannot use TLS to the control plane. */
  xdsPort: number;
}

export function pilotCommand(): Command {
  return appCommand('pilot', 'Flotilla pilot: service discovery and Istio config to Envoy xDS', APP_VERSION, {
    grpcPort: 15011,
    monitoringPort: 15014,
  }).addOption(option('--xds-port <port>', 'plaintext xDS (ADS) port', 15010, parsePort));
}

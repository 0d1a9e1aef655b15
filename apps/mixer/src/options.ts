import { appCommand, option, parsePort } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export interface MixerOptions extends CommonOptions {
  /** Folder of config.istio.io/v1alpha2 YAML (handlers, instances, rules, attribute manifests); none: empty config. */
  configDir?: string;
  /** Rules in this namespace apply to every request; rules elsewhere only to their destination namespace. */
  configDefaultNamespace: string;
  /** galley's MCP address (host:port): mixer follows its config.istio.io collections. */
  galleyAddress?: string;
  /** Where prometheus handlers serve /metrics when their params name no port (Istio's 42422). */
  prometheusPort: number;
}

export function mixerCommand(): Command {
  return appCommand(
    'mixer',
    'Flotilla mixer: precondition checks, quota and telemetry through adapters',
    APP_VERSION,
    {
      grpcPort: 9091,
      monitoringPort: 9093,
    },
  )
    .addOption(
      option<string | undefined>(
        '--config-dir <path>',
        'folder of mixer config (config.istio.io/v1alpha2 YAML: handler, instance, rule, attributemanifest), reloaded on change',
        undefined,
      ),
    )
    .addOption(
      option(
        '--config-default-namespace <namespace>',
        'namespace whose rules apply to every request',
        'istio-system',
      ),
    )
    .addOption(
      option<string | undefined>(
        '--galley-address <host:port>',
        "follow galley's config.istio.io collections over MCP (instead of --config-dir)",
        undefined,
      ),
    )
    .addOption(
      option(
        '--prometheus-port <port>',
        'port of prometheus handlers whose params name none',
        42422,
        parsePort,
      ),
    );
}

import { resolve } from 'node:path';
import { appCommand, option, parseList } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export interface CitadelOptions extends CommonOptions {
  /** Where the root CA's key and certificate live. */
  stateDir: string;
  trustDomain: string;
  /** DNS names and IP addresses in citadel's own TLS serving certificate. */
  servingDnsNames: string[];
}

export function citadelCommand(): Command {
  return appCommand('citadel', 'Flotilla citadel: the mesh certificate authority', APP_VERSION, {
    grpcPort: 8060,
    monitoringPort: 15016,
  })
    .addOption(
      option('--state-dir <dir>', "folder for the CA's key and certificates", '.flotilla/citadel', (v) =>
        resolve(v),
      ),
    )
    .addOption(option('--trust-domain <domain>', 'SPIFFE trust domain', 'cluster.local'))
    .addOption(
      option(
        '--serving-dns-names <names>',
        "comma-separated DNS names and IPs of citadel's TLS certificate",
        ['localhost', '127.0.0.1'],
        parseList,
      ),
    );
}

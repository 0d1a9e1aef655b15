import { appCommand, option, parsePort, parsePositiveNumber } from '@flotilla/service-kit';
import type { CommonOptions } from '@flotilla/service-kit';
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { APP_VERSION } from './version';

export interface PilotOptions extends CommonOptions {
  /** The plaintext xDS port: proxyless gRPC clients (grpc-js-xds) cannot use TLS to the control plane. */
  xdsPort: number;
  /** galley's MCP address (host:port). */
  galleyAddress: string;
  /**
   * How pilot follows galley's collections: delta (only what changed travels; the default) or state of the world
   * (every change resends its whole collection).
   */
  mcpProtocol: 'delta' | 'sotw';
  /** Push debounce: quiet time after the last change (ms), and the longest a change waits (ms). */
  debounceAfter: number;
  debounceMax: number;
  /** Whether endpoint-only pushes wait for the debounce too (Istio's PILOT_ENABLE_EDS_DEBOUNCE). */
  edsDebounce: boolean;
  /** Connections pushed at once (Istio's PILOT_PUSH_THROTTLE). */
  maxConcurrentPushes: number;
  /** The DNS suffix of Kubernetes service hostnames and of short names in config. */
  domainSuffix: string;
  /** The SPIFFE trust domain of workload identities. */
  trustDomain: string;
  /** The mTLS xDS port (Istio's 15012) for Envoy sidecars; served only when `citadelAddress` is set. */
  secureXdsPort: number;
  /** citadel's gRPC address: pilot's serving certificate for the secure xDS port comes from there. */
  citadelAddress?: string;
  /** PEM file of the root(s) that verify citadel and that xDS client certificates must chain to. */
  citadelRootCert?: string;
  /** File holding the bearer token citadel accepts for pilot's identity (re-read at every renewal). */
  citadelTokenFile?: string;
  /** The local mesh instead: citadel's local token key folder; pilot signs a fresh token for each renewal. */
  citadelTokenKeyDir?: string;
  /** TLS name to check citadel's certificate against. */
  citadelServerName: string;
}

function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a whole number`);
  return n;
}

function parseBoolean(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError(`${JSON.stringify(value)} is neither true nor false`);
}

function parseMcpProtocol(value: string): 'delta' | 'sotw' {
  if (value === 'delta' || value === 'sotw') return value;
  throw new InvalidArgumentError(`${JSON.stringify(value)} is neither delta nor sotw`);
}

function parseAddress(value: string): string {
  if (!/^[^\s:]+:\d+$/.test(value) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(value)) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not host:port`);
  }
  return value;
}

export function pilotCommand(): Command {
  return appCommand('pilot', 'Flotilla pilot: service discovery and Istio config to Envoy xDS', APP_VERSION, {
    grpcPort: 15011,
    monitoringPort: 15014,
  })
    .addOption(option('--xds-port <port>', 'plaintext xDS (ADS) port', 15010, parsePort))
    .addOption(option('--galley-address <host:port>', "galley's MCP address", '127.0.0.1:9901', parseAddress))
    .addOption(
      option(
        '--mcp-protocol <delta|sotw>',
        "how galley's collections are followed: delta (changes only) or sotw (whole collections)",
        'delta',
        parseMcpProtocol,
      ),
    )
    .addOption(
      option(
        '--debounce-after <ms>',
        'push once config has been quiet this long (PILOT_DEBOUNCE_AFTER)',
        100,
        parseNonNegativeInt,
      ),
    )
    .addOption(
      option(
        '--debounce-max <ms>',
        'push at the latest this long after the first change (PILOT_DEBOUNCE_MAX)',
        10_000,
        parsePositiveNumber,
      ),
    )
    .addOption(
      option(
        '--eds-debounce <true|false>',
        'endpoint-only pushes wait for the debounce too (PILOT_ENABLE_EDS_DEBOUNCE)',
        true,
        parseBoolean,
      ),
    )
    .addOption(
      option(
        '--max-concurrent-pushes <n>',
        'connections pushed at once (PILOT_PUSH_THROTTLE)',
        100,
        parsePositiveNumber,
      ),
    )
    .addOption(option('--domain-suffix <suffix>', 'DNS suffix of service hostnames', 'cluster.local'))
    .addOption(option('--trust-domain <domain>', 'SPIFFE trust domain', 'cluster.local'))
    .addOption(
      option(
        '--secure-xds-port <port>',
        "mTLS xDS port for Envoy, served once citadel's address is given",
        15012,
        parsePort,
      ),
    )
    .addOption(
      option(
        '--citadel-address <host:port>',
        "citadel's address; pilot serves the secure xDS port only when it is set",
        undefined,
        parseAddress,
      ),
    )
    .addOption(
      option(
        '--citadel-root-cert <file>',
        "PEM root(s) verifying citadel and xDS clients' certificates",
        undefined,
      ),
    )
    .addOption(
      option('--citadel-token-file <file>', "bearer token for pilot's identity at citadel", undefined),
    )
    .addOption(
      option(
        '--citadel-token-key-dir <dir>',
        "local mesh: citadel's local token key folder, to sign pilot's own tokens",
        undefined,
      ),
    )
    .addOption(
      option('--citadel-server-name <name>', "name to verify citadel's certificate against", 'localhost'),
    );
}

/** The secure xDS port needs citadel's address, a root to trust and a way to a token: all, or none. */
export function checkSecureXdsOptions(options: PilotOptions): string | undefined {
  if (options.citadelAddress === undefined) return undefined;
  const noToken = options.citadelTokenFile === undefined && options.citadelTokenKeyDir === undefined;
  const missing = [
    options.citadelRootCert === undefined ? '--citadel-root-cert' : undefined,
    noToken ? '--citadel-token-file (or --citadel-token-key-dir)' : undefined,
  ].filter((m) => m !== undefined);
  return missing.length > 0 ? `--citadel-address needs ${missing.join(' and ')}` : undefined;
}
